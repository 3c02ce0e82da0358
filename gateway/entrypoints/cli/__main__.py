"""`python -m gateway.entrypoints.cli`: the `gateway` command."""

import sys

from gateway.entrypoints.cli import main

sys.exit(main())
