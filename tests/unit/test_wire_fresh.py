"""The generated code in gateway/wire matches protos/ as they are now.

protoc regenerates the Python modules into a temporary folder; the FileDescriptorProto each one
embeds (the bytes given to `AddSerializedFile`) is compared with the one the checked-in module
registers (`DESCRIPTOR.serialized_pb`). That is independent of the grpcio-tools version written
in the module header, and sensitive to every package, message, field, number, type and option.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorProto

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "protos"
WIRE_PROTOS = sorted((PROTO_DIR / "gateway" / "wire").glob("*.proto"))
WIRE_DIR = REPO / "gateway" / "wire"
REGENERATE = "the generated code in gateway/wire is stale: run `make proto` and commit the result"


def proto_name(proto: Path) -> str:
    """The name protoc gives the file: its path relative to the include root."""
    return proto.relative_to(PROTO_DIR).as_posix()


def embedded_descriptor(module_source: str) -> bytes:
    """The serialized FileDescriptorProto a generated _pb2.py module registers."""
    for node in ast.walk(ast.parse(module_source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
        ):
            value = ast.literal_eval(node.args[0])
            assert isinstance(value, bytes)
            return value
    raise AssertionError("no AddSerializedFile call in the generated module")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileDescriptorProto]:
    out = tmp_path_factory.mktemp("protoc")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={out}",
            *map(str, WIRE_PROTOS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"protoc failed:\n{done.stderr}"
    fresh: dict[str, FileDescriptorProto] = {}
    for proto in WIRE_PROTOS:
        module = out / "gateway" / "wire" / f"{proto.stem}_pb2.py"
        source = module.read_text(encoding="utf-8")
        fresh[proto_name(proto)] = FileDescriptorProto.FromString(embedded_descriptor(source))
    return fresh


def test_there_are_wire_protos() -> None:
    assert {p.name for p in WIRE_PROTOS} >= {"declaration.proto", "envelope.proto", "feed.proto"}


@pytest.mark.parametrize("proto", WIRE_PROTOS, ids=lambda p: p.name)
def test_every_proto_has_its_generated_module_and_stub(proto: Path) -> None:
    stem = proto.stem
    missing = [
        name for name in (f"{stem}_pb2.py", f"{stem}_pb2.pyi") if not (WIRE_DIR / name).is_file()
    ]
    assert not missing, f"{missing} missing in gateway/wire: run `make proto`"


def test_no_generated_module_outlives_its_proto() -> None:
    stems = {p.stem for p in WIRE_PROTOS}
    orphans = sorted(
        p.name for p in WIRE_DIR.glob("*_pb2*.py*") if p.name.split("_pb2")[0] not in stems
    )
    assert not orphans, f"{orphans} have no .proto in protos/gateway/wire: remove them"


@pytest.mark.parametrize("proto", WIRE_PROTOS, ids=lambda p: p.name)
def test_generated_descriptor_matches_the_proto(
    proto: Path, compiled: dict[str, FileDescriptorProto]
) -> None:
    name = proto_name(proto)
    module = importlib.import_module(f"gateway.wire.{proto.stem}_pb2")
    embedded = FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    assert embedded.name == name
    assert embedded == compiled[name], f"{name}: {REGENERATE}"
