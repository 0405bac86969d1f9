"""Alembic migrations; run them with `wattbook migrate`."""
