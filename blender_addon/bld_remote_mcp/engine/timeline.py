"""The timeline of one execute_code call: the addon's limits and graces, each named once.

Pure module (no bpy). These are the addon's rows of the table "Timeline of a call" in
docs/protocol.md §5, in its order (tests/unit/test_timeline.py holds them to it; the client's and
the MCP server's rows are named once in crates/bld-remote-protocol/src/timeline.rs). A
synchronous job waits in the queue at most its own timeout, runs at most its timeout, is then
interrupted (again every INTERRUPT_RESEND_SECS), and is reported stuck when it still runs
STUCK_GRACE_SECS after its deadline. The settings that can change a default (config.py) start
from these.
"""

# run: the timeout of a call that gives none (BLD_REMOTE_MCP_DEFAULT_TIMEOUT changes it).
DEFAULT_TIMEOUT_SECS = 30.0
# run: the longest timeout a call may give.
MAX_TIMEOUT_SECS = 86400.0
# run: 1.3.3's `_timeout_seconds` is capped at this, silently (as 1.3.3 did).
LEGACY_TIMEOUT_CAP_SECS = 3600.0
# interrupt: how often the interrupt is sent again while the code still runs past its deadline.
INTERRUPT_RESEND_SECS = 0.25
# stuck grace: a job still running this long after its deadline sits in a C call Python cannot
# interrupt; its synchronous caller is told so (BLD_REMOTE_MCP_STUCK_GRACE changes it).
STUCK_GRACE_SECS = 1.0
# MCP follow: the longest `wait` of get_job and of an async execute_code (an int, as the
# refusal has always said it: "must be <= 3600").
MAX_WAIT_SECS = 3600
