"""One gettext catalogue per language for every text residents read: web, receipts, SMS.

The catalogues are ``locale/<language>/LC_MESSAGES/wattbook.po`` inside this package, read at
run time through Babel (no build step a fresh install could miss). Message ids are stable
keys (``kiosk.title``, ``sms.LOW_BALANCE``): the kiosk's script and the error bodies look texts
up by key. A language is a directory: a translator copies ``en``'s ``.po`` to a new one and
fills in its ``msgstr`` lines; no code changes. zh-CN is the default and the fallback for a
message another language lacks. This package imports nothing else from wattbook.
"""

from wattbook.i18n._catalogue import (
    DEFAULT_LANGUAGE,
    UnknownLanguage,
    gettext,
    languages,
    messages,
    translations,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "UnknownLanguage",
    "gettext",
    "languages",
    "messages",
    "translations",
]
