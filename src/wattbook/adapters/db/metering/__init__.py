"""Readings, baselines, usage aggregates and the set-based ingest in storage."""
