"""One gettext catalogue per language: zh-CN first, English complete, keys shared."""

from __future__ import annotations

import re

import pytest

from wattbook import i18n


class TestCatalogues:
    def test_offers_chinese_first_then_english(self) -> None:
        assert i18n.languages()[:1] == ("zh-CN",)
        assert "en" in i18n.languages()

    def test_every_language_has_every_chinese_message(self) -> None:
        chinese = set(i18n.messages("zh-CN"))

        for language in i18n.languages():
            own = set(i18n.translations(language)._catalog)

            assert chinese <= {key for key in own if isinstance(key, str)}, language

    def test_placeholders_agree_between_languages(self) -> None:
        placeholder = re.compile(r"\{(\w+)\}")
        chinese = i18n.messages("zh-CN")

        for language in i18n.languages():
            for key, text in i18n.messages(language).items():
                assert set(placeholder.findall(text)) == set(placeholder.findall(chinese[key])), (
                    language,
                    key,
                )

    def test_merges_the_kiosk_and_the_sms_texts(self) -> None:
        assert i18n.gettext("zh-CN", "kiosk.title") == "ATM 自助缴费机"
        assert i18n.gettext("en", "sms.signature") == "[Water & Power Centre] "

    def test_jinja_translations_speak_the_language(self) -> None:
        assert i18n.translations("en").gettext("kiosk.start") == "Pay for electricity"
        assert i18n.translations("zh-CN").gettext("kiosk.start") == "自助缴费"


class TestGettext:
    def test_answers_an_unknown_language_in_chinese(self) -> None:
        assert i18n.gettext("fr", "kiosk.start") == "自助缴费"

    def test_answers_an_unknown_message_with_its_key(self) -> None:
        assert i18n.gettext("en", "no.such.message") == "no.such.message"

    def test_refuses_an_unknown_language_for_the_whole_catalogue(self) -> None:
        try:
            i18n.messages("fr")
        except i18n.UnknownLanguage:
            return
        raise AssertionError("fr has no catalogue")


class TestThirdLanguage:
    def test_a_new_directory_is_a_new_language(
        self, tmp_path: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from pathlib import Path

        from wattbook.i18n import _catalogue

        locale = Path(str(tmp_path))
        for tag in ("zh_CN", "en"):
            (locale / tag / "LC_MESSAGES").mkdir(parents=True)
            source = _catalogue._LOCALE / tag / "LC_MESSAGES" / "wattbook.po"
            (locale / tag / "LC_MESSAGES" / "wattbook.po").write_bytes(source.read_bytes())
        french = (locale / "en" / "LC_MESSAGES" / "wattbook.po").read_text("utf-8")
        french = french.replace('msgstr "Pay for electricity"', 'msgstr "Payer en ligne"')
        (locale / "fr" / "LC_MESSAGES").mkdir(parents=True)
        (locale / "fr" / "LC_MESSAGES" / "wattbook.po").write_text(french, "utf-8")
        monkeypatch.setattr(_catalogue, "_LOCALE", locale)
        for cached in (
            _catalogue.languages,
            _catalogue.messages,
            _catalogue._own_messages,
            _catalogue.translations,
        ):
            cached.cache_clear()
        try:
            assert i18n.languages() == ("zh-CN", "en", "fr")
            assert i18n.gettext("fr", "kiosk.start") == "Payer en ligne"
            assert i18n.translations("fr").gettext("kiosk.title") == "Self-service payment kiosk"
        finally:
            monkeypatch.undo()
            for cached in (
                _catalogue.languages,
                _catalogue.messages,
                _catalogue._own_messages,
                _catalogue.translations,
            ):
                cached.cache_clear()
