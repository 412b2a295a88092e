"""Country answers as people type them resolve to ISO codes; unknown ones say so."""

from __future__ import annotations

import pytest

from bot.sources.countries import normalise_country


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("United Kingdom", "GB"),
        ("U.S.", "US"),
        ("USA", "US"),
        ("u.s.a.", "US"),
        ("United States of America", "US"),
        ("UAE", "AE"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Turkiye", "TR"),
        ("España", "ES"),
        ("espana", "ES"),
        ("Spain", "ES"),
        ("es", "ES"),
        ("ESP", "ES"),
        ("Deutschland", "DE"),
        ("Österreich", "AT"),
        ("Schweiz", "CH"),
        ("Brasil", "BR"),
        ("México", "MX"),
        ("Nederland", "NL"),
        ("Holland", "NL"),
        ("Polska", "PL"),
        ("  sverige  ", "SE"),
        ("Ivory Coast", "CI"),
        ("Russia", "RU"),
    ],
)
def test_common_aliases_and_native_names_resolve(typed: str, code: str) -> None:
    assert normalise_country(typed) == code


@pytest.mark.parametrize("typed", ["Atlantis", "Narnia", "ZZ", "...", "12"])
def test_unknown_country_is_named(typed: str) -> None:
    with pytest.raises(ValueError, match=r"unknown country|empty country"):
        normalise_country(typed)
