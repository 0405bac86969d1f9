"""The payments area: the counter, the kiosk, bank auto top-up, corrections, records.

One module per channel or concern (``counter``, ``kiosk``, ``kiosk_devices``, ``bank``,
``corrections``, ``records``), each a handful of use cases; ``ports`` holds their storage,
bank and kiosk ports, and ``acceptor_ports`` the note acceptor. ``Receipt`` is what the use
cases hand back.
"""

from wattbook.application.payments.ports import Receipt, receipt_for

__all__ = ["Receipt", "receipt_for"]
