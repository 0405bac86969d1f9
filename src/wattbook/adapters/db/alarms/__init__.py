"""Alarms in storage: reading alarms, meter alarms and system alarms."""
