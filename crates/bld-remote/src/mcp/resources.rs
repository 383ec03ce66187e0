//! The resources offered over MCP: Blender's status, the scene, the pool of workers, and the
//! whole result of a finished job (for when a tool result showed only a preview of it). Status
//! and scene are of the Blender a call without `blender` reaches (with a pool: this session's
//! worker).

use super::server::BlenderMcp;
use super::tool_result::text_of;
use bld_remote_protocol::{Command, JobView};
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate,
};

const STATUS_URI: &str = "blender://status";
const JOB_RESULT_TEMPLATE: &str = "blender://jobs/{job_id}/result";
const SCENE_URI: &str = "blender://scene";
const POOL_URI: &str = "blender://pool";

/// `resources/list`.
pub fn list() -> ListResourcesResult {
    let resource = |uri: &str, name: &str, description: &str| {
        Resource::new(uri, name)
            .with_description(description)
            .with_mime_type("application/json")
    };
    ListResourcesResult::with_all_items(vec![
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
        resource(
            POOL_URI,
            "pool",
            "The pool of headless Blenders (--pool): workers, leases, queue, restarts",
        ),
    ])
}

/// `resources/templates/list`.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(JOB_RESULT_TEMPLATE, "job result")
            .with_description(
                "The whole result value of a finished job, when the tool result showed a preview",
            )
            .with_mime_type("application/json"),
    ])
}

/// `resources/read`.
pub async fn read(server: &BlenderMcp, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    if let Some(job_id) = uri
        .strip_prefix("blender://jobs/")
        .and_then(|rest| rest.strip_suffix("/result"))
    {
        return job_result(server, job_id, uri).await;
    }
    if uri == POOL_URI {
        let pool = server.fleet.pool_status();
        return Ok(json_contents(&serde_json::json!({"pool": pool}), uri));
    }
    let command = match uri {
        STATUS_URI => Command::Status,
        SCENE_URI => Command::GetSceneInfo {
            limit: None,
            offset: None,
        },
        other => {
            return Err(ErrorData::resource_not_found(
                format!("no resource {other}; there are {STATUS_URI}, {SCENE_URI} and {POOL_URI}"),
                None,
            ));
        }
    };
    let routed = server
        .route(None, None)
        .await
        .map_err(|failed| ErrorData::internal_error(text_of(&failed), None))?;
    let value = routed
        .server
        .call_control(command, 0.0)
        .await
        .map_err(|failed| ErrorData::internal_error(text_of(&failed), None))?;
    Ok(json_contents(&value, uri))
}

/// The whole result of a finished job (`blender://jobs/{job_id}/result`).
async fn job_result(
    server: &BlenderMcp,
    job_id: &str,
    uri: &str,
) -> Result<ReadResourceResponse, ErrorData> {
    let command = Command::GetJob {
        job_id: job_id.to_owned(),
        wait: None,
        stdout_offset: None,
    };
    let routed = server
        .route_job(None, job_id)
        .await
        .map_err(|failed| ErrorData::resource_not_found(text_of(&failed), None))?;
    let value = routed
        .server
        .call_control(command, 0.0)
        .await
        .map_err(|failed| ErrorData::resource_not_found(text_of(&failed), None))?;
    let view: JobView = serde_json::from_value(value).map_err(|err| {
        ErrorData::internal_error(format!("unexpected get_job reply: {err}"), None)
    })?;
    let Some(envelope) = view.envelope else {
        return Err(ErrorData::resource_not_found(
            format!("job {job_id} has not finished yet ({})", view.summary.state),
            None,
        ));
    };
    Ok(json_contents(&envelope.result, uri))
}

/// A resource read's reply: `value` as JSON text.
fn json_contents(value: &serde_json::Value, uri: &str) -> ReadResourceResponse {
    let contents = ResourceContents::text(value.to_string(), uri.to_owned())
        .with_mime_type("application/json");
    ReadResourceResult::new(vec![contents]).into()
}
