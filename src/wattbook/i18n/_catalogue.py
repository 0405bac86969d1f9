"""Read the ``.po`` catalogues shipped in the package, once per language per process."""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DEFAULT_LANGUAGE = "zh-CN"
DOMAIN = "wattbook"
_LOCALE = Path(str(resources.files("wattbook.i18n"))) / "locale"


class UnknownLanguage(LookupError):
    """No catalogue exists for the language asked for."""


def _directory(language: str) -> str:
    """Return the gettext directory name of a BCP 47 tag: ``zh-CN`` is ``zh_CN``."""
    return language.replace("-", "_")


@functools.cache
def languages() -> tuple[str, ...]:
    """Return the languages with a catalogue, the default first, as BCP 47 tags."""
    found = sorted(
        path.parent.parent.name.replace("_", "-")
        for path in _LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )
    return (DEFAULT_LANGUAGE, *(tag for tag in found if tag != DEFAULT_LANGUAGE))


def _catalogue_path(language: str) -> Path:
    if language not in languages():
        raise UnknownLanguage(language)
    return _LOCALE / _directory(language) / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def _own_messages(language: str) -> Mapping[str, str]:
    with _catalogue_path(language).open("rb") as source:
        catalogue = read_po(source, locale=_directory(language))
    return MappingProxyType(
        {
            str(message.id): str(message.string)
            for message in catalogue
            if message.id and isinstance(message.id, str) and message.string
        }
    )


@functools.cache
def messages(language: str) -> Mapping[str, str]:
    """Return every message of ``language``, the default language's filling any it lacks.

    :raises UnknownLanguage: if no catalogue exists for ``language``.
    """
    merged = dict(_own_messages(DEFAULT_LANGUAGE))
    merged.update(_own_messages(language))
    return MappingProxyType(merged)


@functools.cache
def translations(language: str) -> Translations:
    """Return ``language``'s gettext translations (falling back to the default language's).

    Compiled in memory from the ``.po`` source, for ``jinja2.ext.i18n`` and ``gettext`` alike.

    :raises UnknownLanguage: if no catalogue exists for ``language``.
    """
    with _catalogue_path(language).open("rb") as source:
        catalogue = read_po(source, locale=_directory(language))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    loaded = Translations(fp=compiled, domain=DOMAIN)
    if language != DEFAULT_LANGUAGE:
        loaded.add_fallback(translations(DEFAULT_LANGUAGE))
    return loaded


def gettext(language: str, message_id: str) -> str:
    """Return message ``message_id`` in ``language``: its own, else zh-CN's, else the id.

    An unknown language reads the default language's catalogue.
    """
    if language not in languages():
        language = DEFAULT_LANGUAGE
    return messages(language).get(message_id, message_id)
