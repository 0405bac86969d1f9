"""The JSON API for the campus's other systems: its tokens, scopes and idempotent calls."""
