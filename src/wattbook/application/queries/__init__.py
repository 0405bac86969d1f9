"""The read side: statements and usage for the portal and the counter."""

from wattbook.application.queries._statement import monthly_statement

__all__ = ["monthly_statement"]
