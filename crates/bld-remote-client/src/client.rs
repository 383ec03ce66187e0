//! [`Client`]: typed calls over a [`Connection`], reconnecting when the last one is gone.

use crate::connection::Connection;
use crate::error::ClientError;
use crate::handshake::{self, FirstReply};
use crate::options::{ClientOptions, call_limit};
use bld_remote_protocol::{
    Command, Envelope, ErrorCode, ExecuteCode, ExecutionMode, Hello, JobView, Reply, Status,
    Submitted,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// A handle to one Blender; cheap to clone, all clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClientOptions,
    next_id: AtomicI64,
    /// Connections made so far: a caller can tell cheaply whether it is still on the one it saw.
    connections: std::sync::atomic::AtomicU64,
    /// The live connection and its `hello` (which arrives after the handshake's last reply:
    /// requests do not wait for it); replaced when it is closed.
    live: tokio::sync::Mutex<Option<(Arc<Connection>, HelloSlot)>>,
}

impl Client {
    /// A client that connects on its first call.
    pub fn new(options: ClientOptions) -> Client {
        Client {
            inner: Arc::new(Inner {
                options,
                next_id: AtomicI64::new(1),
                connections: std::sync::atomic::AtomicU64::new(0),
                live: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Connects and completes the `hello` handshake now, so a missing Blender is reported here.
    pub async fn connect(options: ClientOptions) -> Result<Client, ClientError> {
        let client = Client::new(options);
        client.server().await?;
        Ok(client)
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The `hello` of the server this client is connected to (connecting if needed).
    pub async fn server(&self) -> Result<Hello, ClientError> {
        let (_, hello) = self.live_connection().await?;
        hello.get().await
    }

    /// How many connections this client has made (0 before the first): when it changes, the
    /// server answering may be another one (compare `server()` then).
    pub fn connection_count(&self) -> u64 {
        self.inner.connections.load(Ordering::Acquire)
    }

    /// Calls in flight on the current connection.
    pub async fn in_flight(&self) -> usize {
        self.inner
            .live
            .lock()
            .await
            .as_ref()
            .map_or(0, |(conn, _)| conn.waiting())
    }

    /// Sends any command and returns its raw reply.
    pub async fn request(
        &self,
        command: &Command,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let (conn, _) = self.live_connection().await?;
        self.request_on(&conn, command, timeout).await
    }

    /// A plain command's `result` (an error reply becomes [`ClientError::Server`]).
    pub async fn call(&self, command: &Command) -> Result<Value, ClientError> {
        self.call_with_timeout(command, self.inner.options.call_timeout)
            .await
    }

    pub async fn call_with_timeout(
        &self,
        command: &Command,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.request(command, timeout)
            .await?
            .into_result()?
            .map_err(ClientError::Server)
    }

    async fn call_typed<T: DeserializeOwned>(
        &self,
        command: &Command,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let value = self.call_with_timeout(command, timeout).await?;
        serde_json::from_value(value).map_err(|err| {
            ClientError::Malformed(bld_remote_protocol::MalformedReply(format!(
                "unexpected `{}` result ({err})",
                command.name()
            )))
        })
    }

    pub async fn ping(&self) -> Result<Value, ClientError> {
        self.call(&Command::Ping).await
    }

    pub async fn hello(&self) -> Result<Hello, ClientError> {
        self.call_typed(
            &Command::Hello { client_nonce: None },
            self.inner.options.call_timeout,
        )
        .await
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.call_typed(&Command::Status, self.inner.options.call_timeout)
            .await
    }

    /// Runs `code` synchronously with the server's defaults.
    pub async fn execute_code(&self, code: &str) -> Result<Envelope, ClientError> {
        self.execute(ExecuteCode::new(code)).await
    }

    /// Runs code synchronously and returns its envelope, whatever its status; a request refused
    /// before running (`invalid_params`, `queue_full`, …) is [`ClientError::Server`].
    pub async fn execute(&self, mut params: ExecuteCode) -> Result<Envelope, ClientError> {
        params.execution_mode = Some(ExecutionMode::Sync);
        let timeout = self.server_wait(
            params
                .timeout
                .unwrap_or(bld_remote_protocol::timeline::DEFAULT_TIMEOUT_SECS),
        );
        let reply = self.request(&Command::ExecuteCode(params), timeout).await?;
        reply.into_envelope()?.map_err(ClientError::Server)
    }

    /// Queues code as an async job.
    pub async fn submit(&self, mut params: ExecuteCode) -> Result<Submitted, ClientError> {
        params.execution_mode = Some(ExecutionMode::Async);
        self.call_typed(
            &Command::ExecuteCode(params),
            self.inner.options.call_timeout,
        )
        .await
    }

    /// Submits `params` as an async job and waits up to `wait` seconds for it in the same
    /// request: the reply is the job's view, finished for a quick job (one round trip instead
    /// of `submit` then `poll_job`), with its stdout from `stdout_offset` on when asked.
    pub async fn submit_and_wait(
        &self,
        mut params: ExecuteCode,
        wait: f64,
        stdout_offset: Option<u64>,
    ) -> Result<JobView, ClientError> {
        params.execution_mode = Some(ExecutionMode::Async);
        params.wait = Some(wait);
        params.stdout_offset = stdout_offset;
        self.call_typed(&Command::ExecuteCode(params), self.server_wait(wait))
            .await
    }

    /// A job's view, waiting up to `wait` seconds for it to finish.
    pub async fn get_job(&self, job_id: &str, wait: Option<f64>) -> Result<JobView, ClientError> {
        let command = Command::GetJob {
            job_id: job_id.to_owned(),
            wait,
            stdout_offset: None,
        };
        self.call_typed(&command, self.server_wait(wait.unwrap_or(0.0)))
            .await
    }

    /// A job's view after waiting up to `wait` seconds, with its stdout from `stdout_offset` on
    /// (also while it runs): how a caller streams a long job's prints.
    pub async fn poll_job(
        &self,
        job_id: &str,
        wait: f64,
        stdout_offset: Option<u64>,
    ) -> Result<JobView, ClientError> {
        let command = Command::GetJob {
            job_id: job_id.to_owned(),
            wait: Some(wait),
            stdout_offset,
        };
        self.call_typed(&command, self.server_wait(wait)).await
    }

    pub async fn cancel_job(&self, job_id: &str) -> Result<JobView, ClientError> {
        self.call_typed(
            &Command::CancelJob {
                job_id: job_id.to_owned(),
            },
            self.inner.options.call_timeout,
        )
        .await
    }

    /// Asks Blender to quit with `exit_code` (the reply comes before it exits).
    pub async fn shutdown(&self, exit_code: Option<i32>) -> Result<Value, ClientError> {
        self.call(&Command::Shutdown { exit_code }).await
    }

    /// The client-side limit for a call the server itself bounds by `server_seconds`.
    fn server_wait(&self, server_seconds: f64) -> Duration {
        call_limit(server_seconds, self.inner.options.timeout_margin)
    }

    async fn request_on(
        &self,
        conn: &Connection,
        command: &Command,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = conn.send(id, command).await?;
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Disconnected {
                addr: self.inner.options.address(),
                reason: "the connection was dropped".into(),
            }),
            Err(_) => {
                conn.forget(id);
                Err(ClientError::Timeout {
                    command: command.name(),
                    after: timeout,
                })
            }
        }
    }

    /// The current connection, or a new one (connect, then the handshake) if there is none or
    /// it closed.
    async fn live_connection(&self) -> Result<(Arc<Connection>, HelloSlot), ClientError> {
        let mut live = self.inner.live.lock().await;
        if let Some((conn, hello)) = live.as_ref() {
            if conn.is_open() {
                return Ok((Arc::clone(conn), hello.clone()));
            }
        }
        *live = None;
        let options = &self.inner.options;
        let stream = connect_with_retry(options).await?;
        let peer = stream.peer_addr().map_err(|err| ClientError::Connect {
            addr: options.address(),
            reason: err.to_string(),
        })?;
        handshake::check_listener_owner(options, peer)?;
        let conn = Arc::new(Connection::new(
            stream,
            options.address(),
            options.max_reply_bytes,
        ));
        let hello = self.handshake(&conn, peer).await?;
        *live = Some((Arc::clone(&conn), hello.clone()));
        self.inner.connections.fetch_add(1, Ordering::AcqRel);
        Ok((conn, hello))
    }

    /// Protocol §1a: `hello` with a fresh nonce; the server's proof checked; `authenticate`
    /// with the client's proof. An auth-off server only with `allow_no_auth`.
    ///
    /// Once the server has proven the token, the client's proof is sent and the connection is
    /// ready: requests may follow `authenticate` at once (the server answers in order), so the
    /// handshake costs one round trip more than the connection's first request, not two. Its
    /// reply (the full `hello`) is awaited in the background; a refusal closes the connection.
    async fn handshake(
        &self,
        conn: &Arc<Connection>,
        peer: SocketAddr,
    ) -> Result<HelloSlot, ClientError> {
        let options = &self.inner.options;
        let addr = options.address();
        let not_ours = |detail: String| ClientError::NotBldRemote {
            addr: addr.clone(),
            detail,
        };
        let client_nonce = handshake::fresh_nonce();
        let hello = Command::Hello {
            client_nonce: Some(client_nonce.clone()),
        };
        let result = self
            .handshake_step(conn, &hello)
            .await?
            .map_err(|error| not_ours(format!("`hello` failed: {error}")))?;
        let (server_nonce, server_proof) = match handshake::read_first_hello(result, &addr)? {
            // Not through a declared tunnel: whoever answers its far end cannot be checked.
            FirstReply::Open(hello)
                if options.allow_no_auth && options.server_address.is_none() =>
            {
                return Ok(HelloSlot::ready(Ok(hello)));
            }
            FirstReply::Open(_) => return Err(ClientError::AuthOff { addr: addr.clone() }),
            FirstReply::Challenge {
                server_nonce,
                server_proof,
            } => (server_nonce, server_proof),
        };
        let token = handshake::find_token(options, peer)?;
        let client_proof = handshake::answer(
            options,
            peer,
            &token,
            &client_nonce,
            &server_nonce,
            &server_proof,
        )?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let reply = conn
            .send(id, &Command::Authenticate { client_proof })
            .await?;
        let slot = HelloSlot::pending();
        let (fill, connection, limit) = (slot.clone(), Arc::clone(conn), options.handshake_timeout);
        let source = token.1.to_string();
        let addr = addr.clone();
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(limit, reply).await {
                Ok(Ok(Ok(reply))) => authenticated_hello(reply, &addr, &source),
                Ok(Ok(Err(err))) => Err(err),
                Ok(Err(_)) => Err(ClientError::Disconnected {
                    addr: addr.clone(),
                    reason: "the connection was dropped during the handshake".into(),
                }),
                Err(_) => Err(ClientError::NotBldRemote {
                    addr: addr.clone(),
                    detail: format!(
                        "no reply to `authenticate` within {:.1} s",
                        limit.as_secs_f64()
                    ),
                }),
            };
            if let Err(err) = &outcome {
                connection.fail(&err.to_string());
            }
            fill.set(outcome);
        });
        Ok(slot)
    }

    /// One handshake request: its result or error reply; no reply within the handshake timeout
    /// means the peer does not speak the protocol.
    async fn handshake_step(
        &self,
        conn: &Connection,
        command: &Command,
    ) -> Result<Result<Value, bld_remote_protocol::ErrorObject>, ClientError> {
        let not_ours = |detail: String| ClientError::NotBldRemote {
            addr: self.inner.options.address(),
            detail,
        };
        let reply = match self
            .request_on(conn, command, self.inner.options.handshake_timeout)
            .await
        {
            Ok(reply) => reply,
            Err(ClientError::Timeout { after, .. }) => {
                return Err(not_ours(format!(
                    "no newline-delimited reply to `{}` within {:.1} s",
                    command.name(),
                    after.as_secs_f64()
                )));
            }
            Err(other) => return Err(other),
        };
        reply
            .into_result()
            .map_err(|malformed| not_ours(malformed.to_string()))
    }
}

/// The full `hello` that answers `authenticate`, or why the server refused.
fn authenticated_hello(reply: Reply, addr: &str, source: &str) -> Result<Hello, ClientError> {
    let not_ours = |detail: String| ClientError::NotBldRemote {
        addr: addr.to_owned(),
        detail,
    };
    let result = match reply.into_result() {
        Ok(Ok(result)) => result,
        Ok(Err(error)) if error.code == ErrorCode::Unauthorized => {
            return Err(ClientError::Unauthorized {
                addr: addr.to_owned(),
                reason: format!(
                    "it proved the token ({source}) but refused this client's proof: {}",
                    error.message
                ),
            });
        }
        Ok(Err(error)) => return Err(not_ours(format!("`authenticate` failed: {error}"))),
        Err(malformed) => return Err(not_ours(malformed.to_string())),
    };
    let hello: Hello = serde_json::from_value(result)
        .map_err(|err| not_ours(format!("malformed `authenticate` reply ({err})")))?;
    if hello.authenticated != Some(true) {
        return Err(not_ours(
            "`authenticate` succeeded but the connection is not authenticated".into(),
        ));
    }
    Ok(hello)
}

/// The `hello` of a live connection: known at once (authentication off), or filled in when
/// `authenticate` is answered.
#[derive(Clone)]
struct HelloSlot(Arc<tokio::sync::watch::Sender<Option<Result<Hello, ClientError>>>>);

impl HelloSlot {
    fn pending() -> HelloSlot {
        HelloSlot(Arc::new(tokio::sync::watch::Sender::new(None)))
    }

    fn ready(hello: Result<Hello, ClientError>) -> HelloSlot {
        HelloSlot(Arc::new(tokio::sync::watch::Sender::new(Some(hello))))
    }

    fn set(&self, hello: Result<Hello, ClientError>) {
        self.0.send_replace(Some(hello));
    }

    async fn get(&self) -> Result<Hello, ClientError> {
        let mut seen = self.0.subscribe();
        let value = seen
            .wait_for(Option::is_some)
            .await
            .expect("the sender lives in this slot");
        value.clone().expect("waited for Some")
    }
}

/// Connects, retrying refused attempts with backoff until `retry_for` has passed.
async fn connect_with_retry(options: &ClientOptions) -> Result<TcpStream, ClientError> {
    let addr = options.address();
    let started = Instant::now();
    let mut backoff = Duration::from_millis(20);
    loop {
        let attempt = tokio::time::timeout(
            options.connect_timeout,
            TcpStream::connect((options.dial_host(), options.port)),
        );
        let error = match attempt.await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => err,
            Err(_) => {
                return Err(ClientError::Connect {
                    addr,
                    reason: format!(
                        "no answer within {:.1} s",
                        options.connect_timeout.as_secs_f64()
                    ),
                });
            }
        };
        let refused = matches!(
            error.kind(),
            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
        );
        if started.elapsed() + backoff > options.retry_for {
            return Err(if refused {
                ClientError::NotListening { addr }
            } else {
                ClientError::Connect {
                    addr,
                    reason: error.to_string(),
                }
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(250));
    }
}
