"""The read side's set-based reports and the API's paged feeds, in SQL (both backends)."""
