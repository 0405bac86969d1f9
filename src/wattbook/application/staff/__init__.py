"""Staff: operators, logging in, sessions, and the audit log every staff action writes (A4)."""
