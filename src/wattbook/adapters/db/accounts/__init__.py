"""Accounts and meter installations in storage: their tables and repositories."""
