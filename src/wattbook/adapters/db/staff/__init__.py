"""Staff in storage: operators, console sessions and the append-only audit log."""
