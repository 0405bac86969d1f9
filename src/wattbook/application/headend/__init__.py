"""The head-end at run time: a poller per bus, relay commands from the outbox (issue 4).

The steps it runs are use cases of their own (``collect_meter``, ``record_meter_events``,
``record_communication``, ``dispatch_relay_commands``, the core's ``record_readings``); this
package only schedules them, one request in flight per bus.
"""

from wattbook.application.headend._headend import Headend, InProcessCore
from wattbook.application.headend._poller import BusActivity, BusPoller

__all__ = ["BusActivity", "BusPoller", "Headend", "InProcessCore"]
