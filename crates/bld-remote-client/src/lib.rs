//! Async (tokio) client for the bld-remote Blender addon.
//!
//! One [`Client`] holds one TCP connection and multiplexes any number of calls over it, matched
//! by request id; each call has its own timeout. When Blender goes away, every pending call fails
//! at once with [`ClientError::Disconnected`] and the next call connects again.
//!
//! Every connection is authenticated both ways before a request goes out (`docs/protocol.md`
//! §1a): on Linux the listening socket of a loopback port must be this user's, and the server
//! must prove it knows the token before the client sends its own proof. The token never travels.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bld_remote_client::ClientError> {
//! use bld_remote_client::{Client, ClientOptions};
//! let client = Client::connect(ClientOptions::default()).await?;
//! let envelope = client.execute_code("import bpy\nlen(bpy.data.objects)").await?;
//! println!("{} objects", envelope.result);
//! # Ok(()) }
//! ```

mod client;
mod connection;
mod error;
mod handshake;
mod options;
pub mod private_fs;
pub mod proc_net;
#[cfg(target_os = "linux")]
pub mod sock_diag;
pub mod token;

pub use bld_remote_protocol as protocol;
pub use client::Client;
pub use error::ClientError;
pub use options::{ClientOptions, call_limit};
