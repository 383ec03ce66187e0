"""Test-only: makes every Python started by the test harness (Blender's included) record coverage.

The harness puts this directory on PYTHONPATH only when BLD_COVERAGE=1.
"""

import os

if os.environ.get("COVERAGE_PROCESS_START"):
    try:
        import coverage

        coverage.process_startup()
    except ImportError:  # coverage not installed for this Python: run without it
        pass
