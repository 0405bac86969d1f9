"""The read side: statements and usage for the portal and the counter."""

from wattbook.application.queries._feeds import (
    InvalidPage,
    Page,
    account_detail,
    account_page,
    payment_page,
    reading_page,
)
from wattbook.application.queries._month_end import month_end_statements
from wattbook.application.queries._no_phone import accounts_without_phone, failed_sms
from wattbook.application.queries._overview import AccountGlance, account_glances
from wattbook.application.queries._reports import (
    MAX_REPORT_DAYS,
    BalanceList,
    BusSuccess,
    CollectionReport,
    InvalidReportRange,
    SuspectMeter,
    arrears_list,
    check_range,
    collection_success_by_bus,
    consumption_ranking,
    daily_collections,
    low_balance_list,
    suspect_meters,
)
from wattbook.application.queries._statement import monthly_statement

__all__ = [
    "MAX_REPORT_DAYS",
    "AccountGlance",
    "BalanceList",
    "BusSuccess",
    "CollectionReport",
    "InvalidPage",
    "InvalidReportRange",
    "Page",
    "SuspectMeter",
    "account_detail",
    "account_glances",
    "account_page",
    "accounts_without_phone",
    "arrears_list",
    "check_range",
    "collection_success_by_bus",
    "consumption_ranking",
    "daily_collections",
    "failed_sms",
    "low_balance_list",
    "month_end_statements",
    "monthly_statement",
    "payment_page",
    "reading_page",
    "suspect_meters",
]
