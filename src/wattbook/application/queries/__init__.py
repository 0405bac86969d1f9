"""The read side: statements, usage and the residents' portal's pages."""

from wattbook.application.queries._month_end import month_end_statements
from wattbook.application.queries._no_phone import accounts_without_phone, failed_sms
from wattbook.application.queries._overview import AccountGlance, account_glances
from wattbook.application.queries._portal import (
    MAX_PAGE_SIZE,
    ChargePage,
    InvalidPage,
    LoginRefused,
    PowerEvent,
    PowerEventKind,
    PowerStory,
    ResidentHome,
    ResidentIdentity,
    ResidentUsage,
    identify_resident,
    power_story,
    resident_charges,
    resident_home,
    resident_payments,
    resident_statement,
    resident_texts,
    resident_usage,
)
from wattbook.application.queries._statement import monthly_statement

__all__ = [
    "MAX_PAGE_SIZE",
    "AccountGlance",
    "ChargePage",
    "InvalidPage",
    "LoginRefused",
    "PowerEvent",
    "PowerEventKind",
    "PowerStory",
    "ResidentHome",
    "ResidentIdentity",
    "ResidentUsage",
    "account_glances",
    "accounts_without_phone",
    "failed_sms",
    "identify_resident",
    "month_end_statements",
    "monthly_statement",
    "power_story",
    "resident_charges",
    "resident_home",
    "resident_payments",
    "resident_statement",
    "resident_texts",
    "resident_usage",
]
