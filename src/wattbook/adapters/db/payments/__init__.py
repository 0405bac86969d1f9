"""Payments, receipts, the counter, kiosks and bank auto top-up in storage."""
