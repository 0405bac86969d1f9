"""Metering: record readings (per reading and set-based), usage aggregates."""
