"""The JSON API in storage: its tokens (hashed, with scopes) and its idempotency records."""
