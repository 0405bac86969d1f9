"""Billing: tariffs, the ledger's reconciliation, month-end statements' port."""
