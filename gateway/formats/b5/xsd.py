"""Compiled feed schemas (XSD), one per file and thread: a validator keeps its error log."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

_local = threading.local()


def feed_schema(path: Path) -> etree.XMLSchema:
    """The compiled XSD at `path`; raises etree.XMLSchemaParseError or OSError when it is not one.

    The schema document is parsed without DTDs, entities or network, like every feed.
    """
    cache: dict[Path, etree.XMLSchema] | None = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    schema = cache.get(path)
    if schema is None:
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        document = etree.fromstring(path.read_bytes(), parser, base_url=str(path))
        schema = cache[path] = etree.XMLSchema(document)
    return schema
