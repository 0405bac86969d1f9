"""Tariffs, the journal, balances and charge totals in storage."""
