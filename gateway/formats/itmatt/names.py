"""The ITMATT 1.5 vocabulary every module of the package shares: the namespace, the element
names, the source format, the schema's path, and how a node path step and an element name are
read. Underscored names are the package's own (imported by its modules, by no one else).
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.formats.hardened import (
    Element,
)

NAMESPACE = "urn:aedgw:itmatt:1.5"
SOURCE_FORMAT = "itmatt-1.5"
XSD_PATH = Path(__file__).resolve().parents[3] / "schemas" / "itmatt" / "1.5" / "itmatt.xsd"

_NS = f"{{{NAMESPACE}}}"
MESSAGE = _NS + "message"
ITEM = _NS + "item"
_MSGBODY = _NS + "msgbody"
_MSGHEADER = _NS + "msgheader"
_ITMATT = _NS + "itmatt_1_5_0"

_STEP = re.compile(r"(?:[^:/\[\]]+:)?([^:/\[\]]+)(?:\[(\d+)\])?")
_BIG_LINE = 65535  # libxml2 keeps exact element lines below this one


def _local(element: Element) -> str:
    tag = element.tag
    assert isinstance(tag, str)
    return tag.rpartition("}")[2]
