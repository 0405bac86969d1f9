"""Notifications: the SMS outbox, its templates and the sender."""
