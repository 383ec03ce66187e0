//! The bld-remote wire protocol, version 2, as Rust types.
//!
//! This crate mirrors `docs/protocol.md` (the source of truth) and nothing else: serde types for
//! every request and reply, the error codes, the newline-delimited JSON framing, the proofs of
//! the authentication handshake and the timeline of a call (its limits and graces,
//! [`timeline`]). It does no I/O, so the client, the CLI and the MCP server share one definition
//! of the protocol.

pub mod envelope;
pub mod error_code;
pub mod framing;
pub mod handshake;
#[cfg(test)]
mod protocol_doc;
pub mod reply;
pub mod request;
pub mod results;
pub mod timeline;

pub use envelope::{Envelope, ExecStatus, LogRecord, Output};
pub use error_code::ErrorCode;
pub use framing::{FrameError, LineDecoder, encode_command, encode_request};
pub use reply::{ErrorObject, MalformedReply, PlainReply, Reply, ReplyStatus};
pub use request::{Command, ExecuteCode, ExecutionMode, Request, RequestId, ScreenshotFormat};
pub use results::{
    BlenderMode, BlenderReset, CaptureCamera, CaptureSource, Hello, JobState, JobSummary, JobView,
    JobsCount, Screenshot, Status, StdoutSince, Submitted,
};

/// The protocol version this crate speaks; `hello` reports the server's.
pub const PROTOCOL_VERSION: u32 = 2;
/// The addon's default port.
pub const DEFAULT_PORT: u16 = 6688;
/// The addon binds loopback only unless told otherwise.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The server refuses messages above this size (`BLD_REMOTE_MCP_MAX_MESSAGE_BYTES` default).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
