//! The tools offered over MCP, one module per family. Their names are kept from
//! blender-remote so existing prompts work; descriptions are short because the whole
//! `tools/list` reply lands in the agent's context.

mod blenders;
mod execution;
mod jobs;
mod persist;
mod scene;
mod session;

pub use execution::{ExecuteCodeArgs, Mode};

use super::tool::Entry;
use rmcp::model;

/// Every tool, in the order `tools/list` gives them.
static ALL: [Entry; 14] = [
    Entry::of::<execution::ExecuteCode>(),
    Entry::of::<jobs::GetJob>(),
    Entry::of::<jobs::CancelJob>(),
    Entry::of::<jobs::ListJobs>(),
    Entry::of::<scene::GetSceneInfo>(),
    Entry::of::<scene::GetObjectInfo>(),
    Entry::of::<scene::GetViewportScreenshot>(),
    Entry::of::<session::CheckConnectionStatus>(),
    Entry::of::<blenders::ListBlenders>(),
    Entry::of::<session::NewSession>(),
    Entry::of::<session::ResetSession>(),
    Entry::of::<persist::PutPersistData>(),
    Entry::of::<persist::GetPersistData>(),
    Entry::of::<persist::RemovePersistData>(),
];

/// `tools/list`.
pub fn catalog() -> Vec<model::Tool> {
    ALL.iter().map(Entry::listing).collect()
}

/// The tool `tools/call` names.
pub fn find(name: &str) -> Option<&'static Entry> {
    ALL.iter().find(|tool| tool.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_list_stays_small_and_every_tool_is_annotated() {
        let tools = catalog();
        let text = serde_json::to_string(&json!({"tools": tools})).unwrap();
        // Measured, not timed: the size is deterministic. Every tool of every issue must fit.
        assert!(text.len() < 8000, "tools/list is {} characters", text.len());
        for tool in &tools {
            assert!(tool.annotations.is_some(), "{}", tool.name);
            assert!(
                tool.description.as_ref().is_some_and(|d| d.len() <= 200),
                "{}",
                tool.name
            );
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn every_listed_tool_is_callable_and_named_once() {
        let tools = catalog();
        for tool in &tools {
            assert!(find(&tool.name).is_some(), "{}", tool.name);
            assert_eq!(
                tools.iter().filter(|t| t.name == tool.name).count(),
                1,
                "{}",
                tool.name
            );
        }
        assert!(find("no_such_tool").is_none());
    }

    #[test]
    fn schemas_are_compact_and_still_say_what_is_allowed() {
        let tools = catalog();
        let shot = tools
            .iter()
            .find(|t| t.name == "get_viewport_screenshot")
            .unwrap();
        let text = serde_json::to_string(&shot.input_schema).unwrap();
        for gone in [
            "$defs",
            "$ref",
            "\"default\":null",
            "\"format\"",
            "\"null\"",
        ] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        assert_eq!(
            shot.input_schema["properties"]["view"]["enum"][0],
            json!("current"),
            "{text}"
        );
        let scene = tools.iter().find(|t| t.name == "get_scene_info").unwrap();
        assert_eq!(
            scene.input_schema["properties"]["fields"]["items"]["enum"],
            json!(["name", "type", "location", "visible", "parent"])
        );
        let exec = tools.iter().find(|t| t.name == "execute_code").unwrap();
        assert_eq!(
            exec.input_schema["properties"]["timeout"]["maximum"],
            json!(86400)
        );
        let get_job = tools.iter().find(|t| t.name == "get_job").unwrap();
        assert_eq!(
            get_job.input_schema["properties"]["wait"]["maximum"],
            json!(3600)
        );
    }

    #[test]
    fn execute_codes_output_schema_is_generated_from_its_structured_content() {
        let tools = catalog();
        let exec = tools.iter().find(|t| t.name == "execute_code").unwrap();
        let schema = serde_json::to_value(exec.output_schema.as_ref().unwrap()).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["status"]));
        assert_eq!(
            schema["properties"]["status"]["enum"],
            json!([
                "success",
                "error",
                "timeout",
                "cancelled",
                "queued",
                "running",
                "finished"
            ])
        );
        // Sent as null on success: the schema must allow it.
        assert_eq!(
            schema["properties"]["error"]["type"],
            json!(["object", "null"])
        );
        assert_eq!(
            schema["properties"]["traceback"]["type"],
            json!(["string", "null"])
        );
        let text = schema.to_string();
        for gone in ["$defs", "$ref", "\"format\"", "description", "$schema"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
    }

    #[test]
    fn names_stay_compatible_with_blender_remote() {
        let names: Vec<String> = catalog().iter().map(|t| t.name.to_string()).collect();
        for legacy in [
            "execute_code",
            "get_scene_info",
            "get_object_info",
            "get_viewport_screenshot",
            "check_connection_status",
        ] {
            assert!(names.iter().any(|n| n == legacy), "{legacy}");
        }
    }
}
