"""Adapters: the database, meters, SMS, bank and the system clock behind the ports."""
