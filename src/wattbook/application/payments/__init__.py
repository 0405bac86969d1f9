"""Payment use cases (issue 5): the counter, the kiosk, bank auto top-up, corrections, records.

One module per channel or concern (``counter``, ``kiosk``, ``bank``, ``corrections``,
``records``), each a handful of use cases; ``Receipt`` is what they hand back.
"""

from wattbook.application.payments._credit import Receipt, receipt_for

__all__ = ["Receipt", "receipt_for"]
