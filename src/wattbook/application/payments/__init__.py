"""Payment use cases (issue 5): the counter, the kiosk, bank auto top-up, corrections, records."""
