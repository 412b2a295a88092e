"""Which stored strings count as quoting a person, and what replaces them."""

from __future__ import annotations

from bot.domain.erasure import ERASED, PersonalData, erased_email, is_erased_email

ANA = PersonalData.of("ana.garcia@acme.io", ["Ana", "García", "Ana García"], "+34 600-000-000")


def test_strings_quoting_the_person_are_replaced_whole_in_any_json() -> None:
    value = {
        "url": "https://acme.io/pricing?u=ANA.GARCIA@acme.io",
        "note": "Called Ana García twice",
        "phone": "34 600 000 000",
        "kept": ["VP of Sales", 300, None, {"country": "ES"}],
        "ana.garcia@acme.io": 1,
    }
    assert ANA.scrub(value) == {
        "url": ERASED,
        "note": ERASED,
        "phone": ERASED,
        "kept": ["VP of Sales", 300, None, {"country": "ES"}],
        ERASED: 1,
    }


def test_idempotency_keys_become_hashes_that_still_match() -> None:
    key = "lead:ana.garcia@acme.io"
    assert ANA.scrub_key(key) == ANA.scrub_key(key) != key
    assert "acme" not in ANA.scrub_key(key)
    assert ANA.scrub_key("sha256:abc") == "sha256:abc"


def test_short_names_do_not_erase_everything() -> None:
    bo = PersonalData.of("bo@beta.io", ["B", None, ""])
    assert bo.scrub("Beta Inc, big account") == "Beta Inc, big account"


def test_erased_placeholder_email() -> None:
    assert erased_email(7) == "erased-7@erased.invalid"
    assert is_erased_email(erased_email(7)) and not is_erased_email("ana@acme.io")
