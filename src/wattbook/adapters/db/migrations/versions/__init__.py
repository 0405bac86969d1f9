"""Alembic revisions, oldest first by their ``rNNNN_`` file names."""
