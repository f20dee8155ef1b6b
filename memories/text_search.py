"""Which PostgreSQL text-search configuration suits an author's language.

A configuration stems words and drops stop words, so "pricing" finds "price" in English. Languages
PostgreSQL has no dictionary for use `simple` (lower-cased words, no stemming), which still matches
product names and other exact keywords: the part of retrieval that vectors do badly.
"""

from __future__ import annotations

# BCP 47 primary language subtag -> a configuration that ships with PostgreSQL.
CONFIG_BY_LANGUAGE = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
SIMPLE = "simple"


def search_config_for(language: str) -> str:
    """`pt-BR` -> `portuguese`; unknown or empty -> `simple`. Always one of PostgreSQL's own names."""
    primary = (language or "").replace("_", "-").split("-", 1)[0].strip().lower()
    return CONFIG_BY_LANGUAGE.get(primary, SIMPLE)
