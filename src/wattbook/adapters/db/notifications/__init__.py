"""The SMS outbox, its deliveries and policy in storage."""
