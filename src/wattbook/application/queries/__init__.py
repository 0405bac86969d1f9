"""The read side: statements and usage for the portal and the counter."""

from wattbook.application.queries._activity import (
    ActivityFeed,
    StatementCheck,
    StatementDifference,
    check_statements,
)
from wattbook.application.queries._month_end import month_end_statements
from wattbook.application.queries._no_phone import accounts_without_phone, failed_sms
from wattbook.application.queries._overview import AccountGlance, account_glances
from wattbook.application.queries._statement import monthly_statement

__all__ = [
    "AccountGlance",
    "ActivityFeed",
    "StatementCheck",
    "StatementDifference",
    "account_glances",
    "accounts_without_phone",
    "check_statements",
    "failed_sms",
    "month_end_statements",
    "monthly_statement",
]
