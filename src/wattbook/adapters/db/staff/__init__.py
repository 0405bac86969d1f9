"""Staff in storage: operators and the append-only audit log."""
