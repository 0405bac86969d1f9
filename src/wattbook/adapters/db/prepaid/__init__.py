"""Prepaid rule state, keep-power orders, the holiday calendar and the command outbox in storage."""
