"""The head-end area: collection and control of the meters on their buses (C1-C5, M5, M6).

Its ports (``ports``: the meter gateway, the collection sink, head-end storage), the steps a
visit runs (``collect_meter``, ``record_meter_events``, ``record_communication``,
``record_bus_reachability``, ``dispatch_relay_commands``), the bus configuration and the alarm
use cases; ``runtime`` and ``poller`` only schedule those steps, one request in flight per bus.
"""
