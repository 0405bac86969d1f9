"""Buses, poll plans, meter events, communication and relay commands in storage."""
