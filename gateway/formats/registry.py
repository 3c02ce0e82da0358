"""The declaration formats the gateway serves, by name (see `gateway.formats`).

FORMATS: Mapping[str, DeclarationFormat]    every format, by its partner.toml `formats` name
lookup(name) -> DeclarationFormat           one of them; KeyError for any other name

A new format is one more entry in `_SERVED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.formats import DeclarationFormat, itmatt

_SERVED: tuple[DeclarationFormat, ...] = (itmatt.FORMAT,)

FORMATS: Mapping[str, DeclarationFormat] = MappingProxyType({f.name: f for f in _SERVED})


def lookup(name: str) -> DeclarationFormat:
    """The declaration format called `name`; KeyError when the gateway serves none by it."""
    return FORMATS[name]
