"""wattbook.domain: the pure rules of accounts, metering, the ledger, billing and prepaid policy.

Synchronous and side-effect free: no I/O, no clock reads, no async, no ORM. Times are parameters;
results are values, decisions and events for the application layer to act on.
"""
