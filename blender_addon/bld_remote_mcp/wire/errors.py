"""The error codes of the protocol: the table of docs/protocol.md §3, in its order.

Pure module (no bpy). This is the addon's one list of them: every error the addon sends (a v1
reply's ``error.code``, an execution envelope's ``error.code``, a 1.3.3 reply's ``code``) names
its code by one of the constants below, never by a bare string, and ``ERROR_CODES`` is exactly
the document's table (tests/unit/test_error_codes.py holds both to that). A code added here
without the document, or to the document without here, fails that test; so does one used in the
code without being defined here. The Rust side keeps its own list the same way
(crates/bld-remote-protocol/src/error_code.rs).
"""

PARSE_ERROR = "parse_error"  # not UTF-8, malformed JSON, a message not starting with '{'
INVALID_REQUEST = "invalid_request"  # JSON, but not a request (bad id, no string type, params not an object)
UNKNOWN_COMMAND = "unknown_command"  # ``type`` names no command (``known`` lists them)
INVALID_PARAMS = "invalid_params"  # a param missing, of the wrong type or out of range (``param`` names it)
MESSAGE_TOO_LARGE = "message_too_large"
INCOMPLETE_MESSAGE = "incomplete_message"  # a partial message idled past the limit
EXECUTION_ERROR = "execution_error"  # (envelope) the user's code raised, or did not compile
TIMEOUT = "timeout"  # (envelope) the code ran past its timeout (or is stuck in a C call)
CANCELLED = "cancelled"  # (envelope) the job was cancelled
QUEUE_FULL = "queue_full"  # too many jobs queued or running
NOT_FOUND = "not_found"  # a job or object that does not exist; no 3D viewport (GUI screenshot)
BUSY = "busy"  # too many connections; the main thread did not pick the request up in time
SHUTTING_DOWN = "shutting_down"  # the server is stopping: nothing runs
INTERNAL_ERROR = "internal_error"  # a bug in the addon: the message says what
UNAUTHORIZED = "unauthorized"  # not authenticated, a wrong proof, or the pre-auth budget spent (auth.py)
GUARD_REFUSED = "guard_refused"  # (envelope) guard mode refused something the code tried
CHECKPOINT_FAILED = "checkpoint_failed"  # (envelope) the asked-for checkpoint could not be saved

ERROR_CODES = (
    PARSE_ERROR,
    INVALID_REQUEST,
    UNKNOWN_COMMAND,
    INVALID_PARAMS,
    MESSAGE_TOO_LARGE,
    INCOMPLETE_MESSAGE,
    EXECUTION_ERROR,
    TIMEOUT,
    CANCELLED,
    QUEUE_FULL,
    NOT_FOUND,
    BUSY,
    SHUTTING_DOWN,
    INTERNAL_ERROR,
    UNAUTHORIZED,
    GUARD_REFUSED,
    CHECKPOINT_FAILED,
)
