//! How a tool calls Blender: on which of the session's two connections (the exec one holds
//! this session's namespace; the control one answers while code runs), with what time limit,
//! and how the outcome becomes a tool result: a reply from a new Blender is flagged, and a
//! failure is said in words an agent can act on.

use super::server::BlenderMcp;
use super::supervisor::Clients;
use super::tool::Outcome;
use super::tool_result::{envelope_result, json_result, tool_error};
use bld_remote_client::{ClientError, call_limit};
use bld_remote_protocol::{Command, Envelope, ErrorCode};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

impl BlenderMcp {
    /// A control command whose `result` is the tool's structured result.
    pub(super) async fn control(&self, command: Command, server_wait: f64) -> Outcome {
        self.control_mapped(command, server_wait, |value| value)
            .await
    }

    /// [`Self::control`], with the `result` passed through `map` first.
    pub(super) async fn control_mapped(
        &self,
        command: Command,
        server_wait: f64,
        map: impl FnOnce(Value) -> Value,
    ) -> Outcome {
        Ok(match self.call_control(command, server_wait).await {
            Ok(value) => {
                let result = json_result(map(value));
                match self.clients().await {
                    Ok(clients) => self.finish(&clients, Ok(result)).await,
                    Err(_) => result,
                }
            }
            Err(error) => error,
        })
    }

    /// A control command's `result`, or the failure as a tool result. `server_wait`: how long
    /// the server may hold the reply on purpose (a `wait`), on top of the client's call limit.
    pub(super) async fn call_control(
        &self,
        command: Command,
        server_wait: f64,
    ) -> Result<Value, CallToolResult> {
        let clients = self.clients().await.map_err(tool_error)?;
        let limit = call_limit(server_wait, clients.control.options().call_timeout);
        match clients.control.call_with_timeout(&command, limit).await {
            Ok(value) => Ok(value),
            Err(err) => Err(self.failure(err, Some(&clients)).await),
        }
    }

    /// A command that must run in this session's namespace (the exec connection).
    pub(super) async fn on_exec(&self, command: Command) -> Outcome {
        let clients = match self.clients().await {
            Ok(clients) => clients,
            Err(err) => return Ok(tool_error(err)),
        };
        let outcome = clients.exec.call(&command).await.map(json_result);
        Ok(self.finish(&clients, outcome).await)
    }

    /// A tool's result, told when it comes from another Blender than the one before; or the
    /// failure, said as the agent can act on it.
    pub(super) async fn finish(
        &self,
        clients: &Clients,
        outcome: Result<CallToolResult, ClientError>,
    ) -> CallToolResult {
        let note = match outcome {
            Ok(_) => self.supervisor.note_new_blender(self.link(), clients).await,
            Err(_) => None,
        };
        self.finish_noted(clients, outcome, note).await
    }

    /// [`Self::finish`] for a call that looked at the answering Blender before it started
    /// (`note`: what that found). A long call does, so that a Blender that dies during this
    /// link's first call is still known to be "the one before" to the next call. It does not
    /// look again afterwards: a call that outlived its Blender (stuck, then restarted) ran on
    /// the old one, and it is the next call that is told about the new one.
    pub(super) async fn finish_noted(
        &self,
        clients: &Clients,
        outcome: Result<CallToolResult, ClientError>,
        note: Option<String>,
    ) -> CallToolResult {
        match (outcome, note) {
            (Ok(result), Some(note)) => flag_new_blender(result, &note),
            (Ok(result), None) => result,
            (Err(err), _) => self.failure(err, Some(clients)).await,
        }
    }

    /// `execute_code`'s envelope: flagged from a new Blender, and when the code called
    /// `sys.exit`, the supervisor waits for that Blender to end (so the next call does not
    /// reach a dying one).
    pub(super) async fn finish_envelope(
        &self,
        clients: &Clients,
        envelope: &Envelope,
        noted: Option<String>,
    ) -> CallToolResult {
        let result = self
            .finish_noted(clients, Ok(envelope_result(envelope)), noted)
            .await;
        if envelope
            .metadata
            .get("system_exit")
            .is_some_and(|code| !code.is_null())
        {
            self.supervisor.expect_exit(clients).await;
        }
        result
    }

    /// A failed request, in words an agent can act on: when Blender went away, what happened
    /// to it and what the next call does; when none answers, what to do (which depends on
    /// `--spawn`).
    pub(super) async fn failure(
        &self,
        err: ClientError,
        clients: Option<&Clients>,
    ) -> CallToolResult {
        self.supervisor.after_error(&err).await;
        let text = match (&err, clients) {
            (ClientError::Disconnected { .. }, Some(clients)) => {
                format!("{err}.\n{}", self.supervisor.explain_lost(clients).await)
            }
            (ClientError::NotListening { addr }, _) => {
                format!(
                    "no Blender answers on {addr}. {}",
                    self.supervisor.next_step()
                )
            }
            (ClientError::Server(error), _) if error.code == ErrorCode::NotFound => {
                match error.details.get("job_id").and_then(Value::as_str) {
                    Some(job_id) => match self.supervisor.lost_job(job_id).await {
                        Some(lost) => lost,
                        None => err.to_string(),
                    },
                    None => err.to_string(),
                }
            }
            _ => err.to_string(),
        };
        tool_error(text)
    }
}

/// A result from a Blender other than the one before: the agent is told first, in the text and
/// in the structured content (`new_blender`; in `metadata` for an execution envelope).
fn flag_new_blender(mut result: CallToolResult, note: &str) -> CallToolResult {
    if let Some(Value::Object(map)) = result.structured_content.as_mut() {
        match map.get_mut("metadata") {
            Some(Value::Object(metadata)) => {
                metadata.insert("new_blender".into(), json!(note));
            }
            _ => {
                map.insert("new_blender".into(), json!(note));
            }
        }
    }
    result
        .content
        .insert(0, ContentBlock::text(format!("⚠ {note}")));
    result
}
