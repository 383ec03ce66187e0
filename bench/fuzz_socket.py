#!/usr/bin/env python3
"""Socket fuzzer against a live addon: hostile bytes on the port, an oracle checked all along.

The fuzzer is the package bench/fuzz/, one module per job; its docstring states the oracle, the
delivery and the report. This script is its command line, by the path the README, the probe's
child process and tests/e2e/test_fuzz_socket.py use:

    .venv/bin/python bench/fuzz_socket.py --duration 300 --seed 1 [--kind bg|bpy5]

Imported (tests/e2e/test_fuzz_socket.py puts bench/ on sys.path), it gives the names below.
"""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: the fuzz package

from fuzz.cli import main, settings_of  # noqa: E402
from fuzz.gen_handshake import FORGED_FORMS, REAL_PROOF_FORMS, auth_line, g_forged_proof  # noqa: E402
from fuzz.generators import GENERATOR_FUNCS, GENERATORS, FuzzerBug, make_input, stand_in_session  # noqa: E402
from fuzz.inputs import Input, slot, stand_in_nonce  # noqa: E402
from fuzz.model import WHY, authenticating_split  # noqa: E402
from fuzz.protocol import KNOWN_CODES, Ctx  # noqa: E402
from fuzz.report import problems, summary  # noqa: E402
from fuzz.requests import sentinel_code  # noqa: E402
from fuzz.run import run_fuzz  # noqa: E402

# What tests/e2e/test_fuzz_socket.py uses (``random`` included: it seeds inputs with
# ``fuzz_socket.random.Random``).
__all__ = [
    "Ctx", "FORGED_FORMS", "FuzzerBug", "GENERATORS", "GENERATOR_FUNCS", "Input", "KNOWN_CODES",
    "REAL_PROOF_FORMS", "WHY", "auth_line", "authenticating_split", "g_forged_proof", "main", "make_input",
    "problems", "random", "run_fuzz", "sentinel_code", "settings_of", "slot", "stand_in_nonce",
    "stand_in_session", "summary",
]

if __name__ == "__main__":
    sys.exit(main())
