"""One gettext catalogue per language: zh-CN first, English complete, keys shared."""

from __future__ import annotations

import re

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
