"""``python -m bench.fuzz`` from the repository root: the same command line as bench/fuzz_socket.py."""

import sys

from .cli import main

sys.exit(main())
