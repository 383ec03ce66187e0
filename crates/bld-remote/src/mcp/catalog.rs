//! The tools offered over MCP: names (kept from blender-remote so existing prompts work), short
//! descriptions, input schemas (from `args.rs`), output schemas and annotations. The whole
//! `tools/list` reply is kept small (a test holds it under 8,000 characters): agents pay for
//! every character of it in their context.

use super::args;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::{Value, json};
use std::sync::Arc;

/// The schema of a tool's arguments, without the decoration that costs context and says nothing.
/// A tool's `inputSchema` from its argument type (schemars), made compact: `tools/list` is
/// read by the model at every session start, so every character costs context.
fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialize");
    let defs = schema
        .as_object_mut()
        .and_then(|object| object.remove("$defs"))
        .unwrap_or(Value::Null);
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    compact(&mut schema, &defs);
    Arc::new(object(schema))
}

/// What schemars writes that a model does not need: `"default": null` on optional arguments,
/// `format` hints (`uint64`, `double`), `null` in the type of an argument that is optional
/// anyway, and `$ref`s to `$defs` (inlined, without their doc comment).
fn compact(value: &mut Value, defs: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let name = target.trim_start_matches("#/$defs/");
                if let Some(Value::Object(def)) = defs.get(name) {
                    let mut def = def.clone();
                    def.remove("description");
                    map.remove("$ref");
                    for (key, v) in def {
                        map.entry(key).or_insert(v);
                    }
                }
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.remove("format");
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    map.insert("type".into(), kept[0].clone());
                }
            }
            if let Some(Value::Array(options)) = map.get("anyOf") {
                let kept: Vec<Value> = options
                    .iter()
                    .filter(|o| o.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    map.remove("anyOf");
                    if let Value::Object(only) = &kept[0] {
                        for (key, v) in only.clone() {
                            map.entry(key).or_insert(v);
                        }
                    }
                }
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if let Some(child) = map.get_mut(&key) {
                    compact(child, defs);
                }
            }
            // Inlining may have brought in a `$ref` again (nested definitions).
            if map.contains_key("$ref") {
                compact(value, defs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| compact(item, defs)),
        _ => {}
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("schemas are objects"),
    }
}

/// `structuredContent` of `execute_code` (sync: the run; async: the job).
pub fn execution_output_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["success", "error", "timeout", "cancelled", "queued", "running"]},
            "result": {},
            "stdout": {"type": "string"},
            "stderr": {"type": "string"},
            "logs": {"type": "array", "items": {"type": "object"}},
            "duration": {"type": "number"},
            "error": {"type": ["object", "null"]},
            "traceback": {"type": ["string", "null"]},
            "metadata": {"type": "object"},
            "job_id": {"type": "string"}
        },
        "required": ["status"]
    })
}

fn any_object() -> Arc<JsonObject> {
    Arc::new(object(json!({"type": "object"})))
}

struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    /// Reaches outside Blender's scene (files, network, processes).
    open_world: bool,
}

const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};
/// Arbitrary Python: it changes the scene and may read and write files or use the network.
const RUN_CODE: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: true,
};
const SET: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: false,
};
const SAFE_SET: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: true,
    open_world: false,
};

fn tool(
    name: &'static str,
    description: &'static str,
    schema: Arc<JsonObject>,
    hints: Hints,
) -> Tool {
    let annotations = ToolAnnotations::new()
        .read_only(hints.read_only)
        .destructive(hints.destructive)
        .idempotent(hints.idempotent)
        .open_world(hints.open_world);
    Tool::new(name, description, schema).with_annotations(annotations)
}

pub fn tools() -> Vec<Tool> {
    vec![
        tool(
            "execute_code",
            "Run Python in Blender (bpy, mathutils, bmesh imported; variables persist per session): value, stdout, stderr, logs, error with traceback. May be headless. Long work: raise timeout or mode async.",
            input::<args::ExecuteCode>(),
            RUN_CODE,
        )
        .with_raw_output_schema(Arc::new(object(execution_output_schema()))),
        tool("get_job", "A job's state; once finished, its result as execute_code gives it. wait waits; stdout_offset pages through long output.", input::<args::GetJob>(), READ)
            .with_raw_output_schema(any_object()),
        tool("cancel_job", "Stop a queued or running job.", input::<args::JobId>(), SAFE_SET)
            .with_raw_output_schema(any_object()),
        tool("list_jobs", "Recent jobs and their states.", input::<args::NoArgs>(), READ).with_raw_output_schema(any_object()),
        tool("get_scene_info", "Scene settings and a page of its objects (100 by default; next_offset for more; fields picks columns).", input::<args::SceneInfo>(), READ)
            .with_raw_output_schema(any_object()),
        tool(
            "get_object_info",
            "One object: transform, dimensions, materials, modifiers, mesh counts.",
            input::<args::ObjectName>(),
            READ,
        )
        .with_raw_output_schema(any_object()),
        tool(
            "get_viewport_screenshot",
            "PNG of the 3D view. Headless: a render (solid: material colours flat; material: colours lit; rendered: Cycles). Frames the objects, not a ground plane.",
            input::<args::Screenshot>(),
            READ,
        ),
        tool(
            "check_connection_status",
            "Is Blender reachable? Version, mode, port, round-trip latency.",
            input::<args::NoArgs>(),
            READ,
        )
        .with_raw_output_schema(any_object()),
        tool("reset_session", "Forget this session's Python variables.", input::<args::NoArgs>(), SET)
            .with_raw_output_schema(any_object()),
        tool("put_persist_data", "Store a JSON value under a key in Blender.", input::<args::PutPersist>(), SET)
            .with_raw_output_schema(any_object()),
        tool("get_persist_data", "Read a value stored with put_persist_data.", input::<args::GetPersist>(), READ)
            .with_raw_output_schema(any_object()),
        tool("remove_persist_data", "Delete a stored value.", input::<args::Key>(), SET).with_raw_output_schema(any_object()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_list_stays_small_and_every_tool_is_annotated() {
        let tools = tools();
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
    fn schemas_are_compact_and_still_say_what_is_allowed() {
        let tools = tools();
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
    }

    #[test]
    fn names_stay_compatible_with_blender_remote() {
        let names: Vec<String> = tools().iter().map(|t| t.name.to_string()).collect();
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
