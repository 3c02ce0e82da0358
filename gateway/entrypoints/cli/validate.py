"""`gateway validate`: validate ITMATT files offline (exit 1 when one is invalid)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.entrypoints.cli.common import AddCommand


def register(add: AddCommand) -> None:
    validate = add("validate", help="validate ITMATT files offline")
    validate.add_argument("files", nargs="+", type=Path)
    validate.add_argument("--json", action="store_true", help="one JSON document per file")
    validate.set_defaults(run=_validate)


def _validate(args: argparse.Namespace) -> int:
    from gateway.entrypoints.validate import validate_file, write_report

    reports = [validate_file(path) for path in args.files]
    write_report(reports, sys.stdout, as_json=args.json)
    return 0 if all(r.ok for r in reports) else 1
