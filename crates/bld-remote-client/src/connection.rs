//! One live TCP connection: a writer shared by all calls and a reader task that routes each
//! reply line to the call waiting for its id.
//!
//! A call that times out only forgets its id; its late reply is dropped when it arrives, so the
//! connection stays in step. When the stream ends or breaks, or a reply cannot be routed (not
//! JSON, too large), every waiting call fails at once with the reason and the connection is
//! closed: guessing which call a broken reply belonged to would be worse than failing them all.

use crate::error::ClientError;
use bld_remote_protocol::{Command, LineDecoder, Reply, RequestId, encode_command};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type Waiter = oneshot::Sender<Result<Reply, ClientError>>;

/// Calls waiting for a reply; `closed` once the connection is unusable.
struct Pending {
    waiters: HashMap<i64, Waiter>,
    closed: Option<String>,
}

pub(crate) struct Connection {
    addr: String,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Arc<Mutex<Pending>>,
    reader: JoinHandle<()>,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, addr: String, max_reply_bytes: usize) -> Connection {
        // Requests are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let pending = Arc::new(Mutex::new(Pending {
            waiters: HashMap::new(),
            closed: None,
        }));
        let reader = tokio::spawn(read_replies(
            read_half,
            Arc::clone(&pending),
            addr.clone(),
            max_reply_bytes,
        ));
        Connection {
            addr,
            writer: tokio::sync::Mutex::new(write_half),
            pending,
            reader,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.pending.lock().expect("pending lock").closed.is_none()
    }

    /// Sends `command` as request `id` and returns the receiver of its reply.
    pub(crate) async fn send(
        &self,
        id: i64,
        command: &Command,
    ) -> Result<oneshot::Receiver<Result<Reply, ClientError>>, ClientError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().expect("pending lock");
            if let Some(reason) = &pending.closed {
                return Err(self.disconnected(reason));
            }
            pending.waiters.insert(id, tx);
        }
        let line = encode_command(&RequestId::Int(id), command);
        let written = {
            let mut writer = self.writer.lock().await;
            writer.write_all(&line).await
        };
        if let Err(err) = written {
            let reason = format!("sending the request failed ({err})");
            close(&self.pending, &self.addr, &reason);
            return Err(self.disconnected(&reason));
        }
        Ok(rx)
    }

    /// Marks the connection unusable with `reason` (a refused handshake): every waiting call
    /// fails with it, and the next call connects again.
    pub(crate) fn fail(&self, reason: &str) {
        close(&self.pending, &self.addr, reason);
    }

    /// Gives up waiting for `id` (timeout); its reply, if it comes, is dropped.
    pub(crate) fn forget(&self, id: i64) {
        self.pending
            .lock()
            .expect("pending lock")
            .waiters
            .remove(&id);
    }

    pub(crate) fn waiting(&self) -> usize {
        self.pending.lock().expect("pending lock").waiters.len()
    }

    fn disconnected(&self, reason: &str) -> ClientError {
        ClientError::Disconnected {
            addr: self.addr.clone(),
            reason: reason.to_owned(),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        close(
            &self.pending,
            &self.addr,
            "the client closed the connection",
        );
    }
}

/// Marks the connection closed and fails every waiting call with `reason`.
fn close(pending: &Mutex<Pending>, addr: &str, reason: &str) {
    let waiters = {
        let mut pending = pending.lock().expect("pending lock");
        if pending.closed.is_none() {
            pending.closed = Some(reason.to_owned());
        }
        std::mem::take(&mut pending.waiters)
    };
    for (_, waiter) in waiters {
        let _ = waiter.send(Err(ClientError::Disconnected {
            addr: addr.to_owned(),
            reason: reason.to_owned(),
        }));
    }
}

async fn read_replies(
    mut reader: OwnedReadHalf,
    pending: Arc<Mutex<Pending>>,
    addr: String,
    max: usize,
) {
    let mut decoder = LineDecoder::new(max);
    let mut buf = vec![0u8; 64 * 1024];
    let reason = loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break CLOSED.to_owned(),
            Ok(n) => n,
            // A process killed with data unread in its socket resets the connection instead
            // of closing it: for the caller it is the same event.
            Err(err) if is_peer_gone(&err) => break CLOSED.to_owned(),
            Err(err) => break format!("reading failed ({err})"),
        };
        decoder.push(&buf[..n]);
        if let Some(reason) = route_lines(&mut decoder, &pending) {
            break reason;
        }
    };
    close(&pending, &addr, &reason);
}

const CLOSED: &str = "Blender closed the connection (it exited, or the server was stopped)";

fn is_peer_gone(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(err.kind(), ConnectionReset | ConnectionAborted | BrokenPipe)
}

/// Delivers every complete reply line; returns why the connection must close, if it must.
fn route_lines(decoder: &mut LineDecoder, pending: &Mutex<Pending>) -> Option<String> {
    while let Some(line) = decoder.next_line() {
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                return Some(format!(
                    "{err}; the replies can no longer be matched to requests"
                ));
            }
        };
        let reply = match Reply::from_slice(&line) {
            Ok(reply) => reply,
            Err(err) => return Some(err.to_string()),
        };
        match &reply.id {
            Some(RequestId::Int(id)) => {
                let waiter = pending.lock().expect("pending lock").waiters.remove(id);
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(Ok(reply));
                    }
                    None => tracing::debug!(id, "dropping the reply of a call that timed out"),
                }
            }
            // The server sends id null only for bytes it could not parse, which this client
            // never sends; nothing waits for such a reply.
            other => {
                tracing::warn!(?other, body = ?reply.body, "reply with an id this client never used")
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_or_broken_pipe_means_the_peer_is_gone() {
        for kind in [
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::ConnectionAborted,
        ] {
            assert!(is_peer_gone(&std::io::Error::from(kind)));
        }
        assert!(!is_peer_gone(&std::io::Error::from(
            std::io::ErrorKind::InvalidData
        )));
    }
}
