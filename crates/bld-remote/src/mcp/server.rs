//! The MCP server: `tools/list` from the catalog, `tools/call` turned into requests to Blender.

use super::args::{self, decode};
use super::catalog;
use super::supervisor::{BlenderSupervisor, Clients};
use super::tool_result::{envelope_result, json_result, tool_error};
use bld_remote_client::ClientError;
use bld_remote_protocol::results::JobView;
use bld_remote_protocol::{
    CaptureCamera, CaptureSource, Command, Envelope, ErrorCode, ExecuteCode, Screenshot,
    ScreenshotFormat,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProgressToken, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct BlenderMcp {
    supervisor: Arc<BlenderSupervisor>,
}

const INSTRUCTIONS: &str = "Tools to work in a running Blender. execute_code runs Python with bpy; \
variables persist between calls of this session. Use get_scene_info / get_object_info to look, \
get_viewport_screenshot to see.";

impl BlenderMcp {
    pub fn new(supervisor: Arc<BlenderSupervisor>) -> BlenderMcp {
        BlenderMcp { supervisor }
    }

    async fn dispatch(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, Value>>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        match name {
            "execute_code" => self.execute_code(decode(arguments)?, context).await,
            "get_job" => {
                let a: args::GetJob = decode(arguments)?;
                args::check_range("wait", a.wait, 0.0, args::MAX_WAIT_SECS)?;
                let command = Command::GetJob {
                    job_id: a.job_id,
                    wait: a.wait,
                    stdout_offset: a.stdout_offset,
                };
                Ok(
                    match self.call_control(command, a.wait.unwrap_or(0.0)).await {
                        Ok(value) => match serde_json::from_value::<JobView>(value.clone()) {
                            Ok(view) => super::tool_result::job_result(&view),
                            Err(_) => json_result(value),
                        },
                        Err(error) => error,
                    },
                )
            }
            "cancel_job" => {
                let a: args::JobId = decode(arguments)?;
                self.control(Command::CancelJob { job_id: a.job_id }, 0.0)
                    .await
            }
            "list_jobs" => {
                decode::<args::NoArgs>(arguments)?;
                self.control(Command::ListJobs, 0.0).await
            }
            "get_scene_info" => self.scene_info(decode(arguments)?).await,
            "get_object_info" => {
                let a: args::ObjectName = decode(arguments)?;
                self.control(
                    Command::GetObjectInfo {
                        object_name: a.object_name,
                    },
                    0.0,
                )
                .await
            }
            "get_viewport_screenshot" => self.screenshot(decode(arguments)?).await,
            "check_connection_status" => {
                decode::<args::NoArgs>(arguments)?;
                Ok(self.connection_status().await)
            }
            "reset_session" => {
                decode::<args::NoArgs>(arguments)?;
                self.on_exec(Command::ResetSession { session: None }).await
            }
            "put_persist_data" => {
                let a: args::PutPersist = decode(arguments)?;
                self.control(
                    Command::PutPersistData {
                        key: a.key,
                        data: a.data,
                    },
                    0.0,
                )
                .await
            }
            "get_persist_data" => {
                let a: args::GetPersist = decode(arguments)?;
                self.control(
                    Command::GetPersistData {
                        key: a.key,
                        default: a.default,
                    },
                    0.0,
                )
                .await
            }
            "remove_persist_data" => {
                let a: args::Key = decode(arguments)?;
                self.control(Command::RemovePersistData { key: a.key }, 0.0)
                    .await
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool `{other}`"),
                None,
            )),
        }
    }

    /// Runs code as a job of this session (on the exec connection, so in its namespace) and
    /// follows it: the caller's progress token gets the job's stdout as it is printed, and a
    /// cancelled request cancels the job in Blender.
    async fn execute_code(
        &self,
        a: args::ExecuteCode,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        args::check_range("timeout", a.timeout, 0.001, args::MAX_TIMEOUT_SECS)?;
        let clients = match self.supervisor.clients().await {
            Ok(clients) => clients,
            Err(err) => return Ok(tool_error(err)),
        };
        let mut params = ExecuteCode::new(a.code);
        params.timeout = a.timeout;
        params.checkpoint = a.checkpoint;
        let timeout = a
            .timeout
            .unwrap_or(bld_remote_protocol::DEFAULT_EXEC_TIMEOUT_SECS);
        if a.mode == Some(args::Mode::Async) {
            let outcome = clients.exec.submit(params).await.map(|submitted| {
                json_result(json!({"status": submitted.state, "job_id": submitted.job_id}))
            });
            return Ok(self.finish(&clients, outcome).await);
        }
        // Submit and wait in one request: a quick call is answered by its first reply. A
        // longer one has its job id after FIRST_WAIT_SECS, and is followed (and cancellable)
        // from there. Not cancellable before that reply: there is no job id to cancel yet.
        let progress = context.meta.get_progress_token();
        let first = clients
            .exec
            .submit_and_wait(
                params,
                FIRST_WAIT_SECS.min(timeout),
                progress.as_ref().map(|_| 0),
            )
            .await;
        let mut first = match first {
            Ok(view) => view,
            Err(err) => return Ok(self.failure(err, Some(&clients)).await),
        };
        let mut offset = 0;
        notify_stdout(context, progress.as_ref(), &mut first, &mut offset).await;
        if let Some(envelope) = first.envelope {
            return Ok(self.finish_envelope(&clients, &envelope).await);
        }
        let job_id = first.summary.job_id;
        let outcome = tokio::select! {
            outcome = follow_job(&clients, &job_id, timeout, offset, context) => match outcome {
                Ok(Some(envelope)) => return Ok(self.finish_envelope(&clients, &envelope).await),
                Ok(None) => Ok(self.stuck(&clients, &job_id, timeout).await),
                Err(err) => Err(err),
            },
            _ = context.ct.cancelled() => {
                tracing::debug!(job = %job_id, "request cancelled: cancelling the job");
                let _ = clients.control.cancel_job(&job_id).await;
                clients.control.get_job(&job_id, Some(5.0)).await.map(|view| match view.envelope {
                    Some(envelope) => envelope_result(&envelope),
                    None => tool_error(format!("cancelled; job {job_id} is still stopping")),
                })
            }
        };
        Ok(self.finish(&clients, outcome).await)
    }

    /// The job outlived its timeout plus the grace period: it sits in a C call Python cannot
    /// interrupt. Restart the Blender if this server owns it (`BlenderSupervisor::recover_stuck`), else say
    /// how to follow or stop the job.
    async fn stuck(&self, clients: &Clients, job_id: &str, timeout: f64) -> CallToolResult {
        let what = format!(
            "the code did not stop within {timeout} s plus {STUCK_GRACE_SECS} s: it is stuck in a long C call (render, operator, native library)"
        );
        match self.supervisor.recover_stuck(clients.port).await {
            Some(note) => tool_error(format!("{what}; {note}")),
            None => tool_error(format!(
                "{what}; job {job_id} is still running: follow it with get_job or stop it with cancel_job"
            )),
        }
    }

    async fn scene_info(&self, a: args::SceneInfo) -> Result<CallToolResult, ErrorData> {
        let mut result = match self
            .call_control(
                Command::GetSceneInfo {
                    // A page by default: an agent's context is the scarce resource.
                    limit: Some(a.limit.unwrap_or(SCENE_PAGE)),
                    offset: a.offset,
                },
                0.0,
            )
            .await
        {
            Ok(value) => value,
            Err(error) => return Ok(error),
        };
        if let (Some(fields), Some(objects)) = (
            a.fields,
            result.get_mut("objects").and_then(Value::as_array_mut),
        ) {
            let keep: Vec<String> = fields.iter().map(args::wire_name).collect();
            for object in objects.iter_mut().filter_map(Value::as_object_mut) {
                object.retain(|key, _| keep.iter().any(|f| f == key));
            }
        }
        Ok(super::tool_result::scene_result(result))
    }

    async fn screenshot(&self, a: args::Screenshot) -> Result<CallToolResult, ErrorData> {
        let command = Command::GetViewportScreenshot {
            max_size: a.max_size,
            format: Some(ScreenshotFormat::Png),
            filepath: None,
            view: a.view.as_ref().map(args::wire_name),
            azimuth: a.azimuth,
            elevation: a.elevation,
            shading: a.shading.as_ref().map(args::wire_name),
        };
        let reply = match self.call_control(command, 120.0).await {
            Ok(value) => value,
            Err(error) => return Ok(error),
        };
        let (shot, data) = match serde_json::from_value::<Screenshot>(reply.clone()) {
            Ok(mut shot) => match shot.image_base64.take() {
                Some(data) => (shot, data),
                None => return Ok(tool_error(format!("Blender returned no image: {reply}"))),
            },
            Err(_) => return Ok(tool_error(format!("Blender returned no image: {reply}"))),
        };
        let caption = format!(
            "{}x{} PNG ({})",
            shot.width,
            shot.height,
            screenshot_caption(&a, &shot)
        );
        Ok(CallToolResult::success(vec![
            ContentBlock::image(data, "image/png"),
            ContentBlock::text(caption),
        ]))
    }

    async fn connection_status(&self) -> CallToolResult {
        let clients = match self.supervisor.clients().await {
            Ok(clients) => clients,
            Err(err) => return json_result(json!({"connected": false, "error": err})),
        };
        let started = Instant::now();
        let outcome = async {
            clients.control.ping().await?;
            let latency = started.elapsed();
            Ok::<_, ClientError>((clients.control.server().await?, latency))
        }
        .await;
        match outcome {
            Ok((hello, latency)) => json_result(json!({
                "connected": true, "host": clients.host, "port": hello.port, "pid": hello.pid,
                "blender_version": hello.blender_version, "addon_version": hello.addon_version,
                "mode": hello.mode, "protocol_version": hello.protocol_version,
                "latency_ms": (latency.as_secs_f64() * 1e6).round() / 1e3,
            })),
            Err(err) => {
                let text = super::tool_result::text_of(&self.failure(err, None).await);
                json_result(
                    json!({"connected": false, "host": clients.host, "port": clients.port, "error": text}),
                )
            }
        }
    }

    /// A control command whose `result` is the tool's structured result.
    async fn control(
        &self,
        command: Command,
        server_wait: f64,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.call_control(command, server_wait).await {
            Ok(value) => {
                let result = json_result(value);
                match self.supervisor.clients().await {
                    Ok(clients) => self.finish(&clients, Ok(result)).await,
                    Err(_) => result,
                }
            }
            Err(error) => error,
        })
    }

    async fn call_control(
        &self,
        command: Command,
        server_wait: f64,
    ) -> Result<Value, CallToolResult> {
        let clients = self.supervisor.clients().await.map_err(tool_error)?;
        let limit =
            clients.control.options().call_timeout + Duration::from_secs_f64(server_wait.max(0.0));
        match clients.control.call_with_timeout(&command, limit).await {
            Ok(value) => Ok(value),
            Err(err) => Err(self.failure(err, Some(&clients)).await),
        }
    }

    /// The whole result of a finished job (`blender://jobs/{job_id}/result`).
    async fn job_result_resource(
        &self,
        job_id: &str,
        uri: &str,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let command = Command::GetJob {
            job_id: job_id.to_owned(),
            wait: None,
            stdout_offset: None,
        };
        let value = self.call_control(command, 0.0).await.map_err(|failed| {
            ErrorData::resource_not_found(super::tool_result::text_of(&failed), None)
        })?;
        let view: JobView = serde_json::from_value(value).map_err(|err| {
            ErrorData::internal_error(format!("unexpected get_job reply: {err}"), None)
        })?;
        let Some(envelope) = view.envelope else {
            return Err(ErrorData::resource_not_found(
                format!("job {job_id} has not finished yet ({})", view.summary.state),
                None,
            ));
        };
        let contents = ResourceContents::text(envelope.result.to_string(), uri.to_owned())
            .with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    /// A command that must run in this session's namespace (the exec connection).
    async fn on_exec(&self, command: Command) -> Result<CallToolResult, ErrorData> {
        let clients = match self.supervisor.clients().await {
            Ok(clients) => clients,
            Err(err) => return Ok(tool_error(err)),
        };
        let outcome = clients.exec.call(&command).await.map(json_result);
        Ok(self.finish(&clients, outcome).await)
    }

    /// A tool's result, told when it comes from another Blender than the one before; or the
    /// failure, said as the agent can act on it.
    async fn finish(
        &self,
        clients: &Clients,
        outcome: Result<CallToolResult, ClientError>,
    ) -> CallToolResult {
        match outcome {
            Ok(result) => match self.supervisor.note_new_blender(clients).await {
                Some(note) => flag_new_blender(result, &note),
                None => result,
            },
            Err(err) => self.failure(err, Some(clients)).await,
        }
    }

    /// `execute_code`'s envelope: flagged from a new Blender, and when the code called
    /// `sys.exit`, the supervisor waits for that Blender to end (so the next call does not reach a
    /// dying one).
    async fn finish_envelope(&self, clients: &Clients, envelope: &Envelope) -> CallToolResult {
        let result = self.finish(clients, Ok(envelope_result(envelope))).await;
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
    async fn failure(&self, err: ClientError, clients: Option<&Clients>) -> CallToolResult {
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

const STATUS_URI: &str = "blender://status";
const JOB_RESULT_TEMPLATE: &str = "blender://jobs/{job_id}/result";
const SCENE_URI: &str = "blender://scene";

/// Objects per `get_scene_info` page when the caller gives no limit.
const SCENE_PAGE: u64 = 100;

/// How often a job with a progress token is polled for new stdout.
const PROGRESS_POLL_SECS: f64 = 0.2;
/// How long the submit of a synchronous tool call waits for the job before replying with its
/// id (then the job is followed by polls). Short, so a cancel finds a job id quickly.
const FIRST_WAIT_SECS: f64 = 0.2;
/// Past its timeout, how long a job may take to report before the call gives up on it (a long C
/// call cannot be interrupted; the job's envelope stays available through `get_job`).
const STUCK_GRACE_SECS: f64 = 5.0;

/// Sends the job's new stdout as a progress notification when the client asked for progress,
/// and moves `offset` past it.
async fn notify_stdout(
    context: &RequestContext<RoleServer>,
    token: Option<&ProgressToken>,
    view: &mut JobView,
    offset: &mut u64,
) {
    let (Some(token), Some(stdout)) = (token, view.stdout.take()) else {
        return;
    };
    if !stdout.text.is_empty() {
        let note = ProgressNotificationParam::new(token.clone(), stdout.offset as f64)
            .with_message(stdout.text);
        if let Err(err) = context.peer.notify_progress(note).await {
            tracing::debug!(%err, "progress notification not delivered");
        }
    }
    *offset = stdout.offset;
}

/// Waits for the job's envelope, streaming stdout as progress when the caller asked for it.
/// `None`: the job is still running past its timeout plus the grace period (stuck).
async fn follow_job(
    clients: &Clients,
    job_id: &str,
    timeout: f64,
    mut offset: u64,
    context: &RequestContext<RoleServer>,
) -> Result<Option<Envelope>, ClientError> {
    let token = context.meta.get_progress_token();
    // The deadline counts from here, a fraction of a second after the job started: the
    // grace period more than covers that.
    let deadline =
        Instant::now() + Duration::from_secs_f64(timeout.clamp(0.0, 86_400.0) + STUCK_GRACE_SECS);
    loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        if left <= 0.0 {
            return Ok(None);
        }
        let wait = if token.is_some() {
            PROGRESS_POLL_SECS.min(left)
        } else {
            left.min(3600.0)
        };
        let mut view = clients
            .exec
            .poll_job(job_id, wait, token.as_ref().map(|_| offset))
            .await?;
        notify_stdout(context, token.as_ref(), &mut view, &mut offset).await;
        if let Some(envelope) = view.envelope {
            return Ok(Some(envelope));
        }
    }
}

/// What a capture shows, from what was asked and what the addon says it used (`camera`: the
/// scene's, or a temporary one framing the objects).
fn screenshot_caption(asked: &args::Screenshot, shot: &Screenshot) -> String {
    use args::View;
    let shading = asked
        .shading
        .as_ref()
        .map(|s| format!(", {} shading", args::wire_name(s)))
        .unwrap_or_default();
    if shot.source != Some(CaptureSource::Render) {
        let view = asked
            .view
            .as_ref()
            .map(|v| format!(", {} view", args::wire_name(v)))
            .unwrap_or_default();
        return format!("the 3D viewport{view}{shading}");
    }
    let scene_camera = shot.camera == Some(CaptureCamera::Scene);
    let from = match asked.view {
        None | Some(View::Current) | Some(View::Camera) if scene_camera => {
            "through the scene camera".to_owned()
        }
        None | Some(View::Current) | Some(View::Camera) => {
            "from a camera framing the objects (the scene has no camera)".to_owned()
        }
        Some(View::Angle) => format!(
            "from azimuth {}°, elevation {}°",
            asked.azimuth.unwrap_or(0.0),
            asked.elevation.unwrap_or(0.0)
        ),
        Some(view) => format!("from the {} view", args::wire_name(&view)),
    };
    format!("headless Blender: a render {from}{shading}")
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

impl ServerHandler for BlenderMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("bld-remote", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resource = |uri: &str, name: &str, description: &str| {
            Resource::new(uri, name)
                .with_description(description)
                .with_mime_type("application/json")
        };
        Ok(ListResourcesResult::with_all_items(vec![
            resource(
                STATUS_URI,
                "status",
                "Blender's status: version, mode, port, uptime, queue, jobs",
            ),
            resource(
                SCENE_URI,
                "scene",
                "The current scene: objects and settings",
            ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if let Some(job_id) = request
            .uri
            .strip_prefix("blender://jobs/")
            .and_then(|rest| rest.strip_suffix("/result"))
        {
            return self.job_result_resource(job_id, &request.uri).await;
        }
        let command = match request.uri.as_str() {
            STATUS_URI => Command::Status,
            SCENE_URI => Command::GetSceneInfo {
                limit: None,
                offset: None,
            },
            other => {
                return Err(ErrorData::resource_not_found(
                    format!("no resource {other}; there are {STATUS_URI} and {SCENE_URI}"),
                    None,
                ));
            }
        };
        let value = self.call_control(command, 0.0).await.map_err(|failed| {
            ErrorData::internal_error(super::tool_result::text_of(&failed), None)
        })?;
        let contents = ResourceContents::text(value.to_string(), request.uri.clone())
            .with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(JOB_RESULT_TEMPLATE, "job result")
                .with_description(
                    "The whole result value of a finished job, when the tool result showed a preview",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(catalog::tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        tracing::debug!(tool = %name, "call");
        self.dispatch(&name, request.arguments, &context)
            .await
            .map(Into::into)
    }
}
