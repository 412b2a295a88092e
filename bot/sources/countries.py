"""Country answers as people type them -> ISO 3166-1 alpha-2, from pycountry's data.

pycountry knows ISO codes, English names and (through its gettext catalogues) each country's
name in many languages, which covers native names such as "Deutschland" or "España". What no
ISO source holds are everyday aliases ("UK", "UAE", "Turkey"): those few are listed here.
"""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache

import pycountry

# Names in these languages resolve; a name two countries share in different languages is
# dropped rather than guessed.
NATIVE_NAME_LANGUAGES = (
    *("ar", "cs", "da", "de", "el", "es", "et", "fi", "fr", "ga", "he", "hr", "hu", "id"),
    *("is", "it", "ja", "ko", "lt", "lv", "ms", "nb_NO", "nl", "pl", "pt", "pt_BR", "ro"),
    *("ru", "sk", "sl", "sr", "sv", "th", "tr", "uk", "vi", "zh_CN", "zh_TW"),
)

# Everyday names ISO does not list (keys as `_key` folds them: lower case, no accents or dots).
ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united states of america": "US",
    "america": "US",
    "uae": "AE",
    "emirates": "AE",
    "turkey": "TR",
    "turkiye": "TR",
    "ivory coast": "CI",
    "swaziland": "SZ",
    "burma": "MM",
    "cape verde": "CV",
    "holland": "NL",
    "the netherlands": "NL",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "vatican": "VA",
    "macedonia": "MK",
    "czech republic": "CZ",
    "mainland china": "CN",
    "prc": "CN",
}


def _key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.replace(".", "").split())


@cache
def _names() -> dict[str, str]:
    """Folded name -> alpha-2, from ISO names in English and the languages above."""
    found: dict[str, set[str]] = {}

    def add(name: str | None, code: str) -> None:
        if name:
            found.setdefault(_key(name), set()).add(code)

    catalogues = []
    for language in NATIVE_NAME_LANGUAGES:
        try:
            catalogues.append(
                gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
            )
        except OSError:  # a catalogue missing from this pycountry release
            continue
    for country in pycountry.countries:
        code = str(country.alpha_2)
        names = [getattr(country, attr, None) for attr in ("name", "common_name", "official_name")]
        for name in names:
            add(name, code)
            for catalogue in catalogues:
                add(catalogue.gettext(name) if name else None, code)
    names_map = {name: next(iter(codes)) for name, codes in found.items() if len(codes) == 1}
    names_map.update(ALIASES)
    return names_map


def normalise_country(value: str) -> str:
    """ISO alpha-2 from a code ("es", "ESP", "U.S."), a name in English or the country's own
    language ("Spain", "España"), or a common alias ("UK"). ValueError when unknown."""
    key = _key(value)
    if not key:
        raise ValueError("empty country")
    if len(key) in (2, 3) and key.isascii() and key.isalpha():
        country = pycountry.countries.get(alpha_2=key) or pycountry.countries.get(alpha_3=key)
        if country is not None:
            return str(country.alpha_2)
    code = _names().get(key)
    if code is not None:
        return code
    raise ValueError(f"unknown country {value.strip()[:100]!r}: use an ISO code or name")
