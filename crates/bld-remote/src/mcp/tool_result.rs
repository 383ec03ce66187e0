//! Tool results: the structured content (what the output schema declares) and a compact text
//! rendering of it for clients that ignore structured content.

use super::budget;
use super::execution::ExecuteCodeOutput;
use bld_remote_protocol::{Envelope, ExecStatus, JobView, Submitted};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// Longest text rendering of a value; the structured content always has all of it.
const TEXT_LIMIT: usize = 8000;

/// `execute_code`'s result: structured content (an [`ExecuteCodeOutput`], within the reply
/// budget), text, and `isError` unless it succeeded.
pub fn envelope_result(envelope: &Envelope) -> CallToolResult {
    let output = ExecuteCodeOutput::from_envelope(envelope);
    let run = output.run.as_ref().expect("a run's output");
    let mut text = format!(
        "status: {} ({})",
        envelope.status.as_str(),
        crate::style::duration(envelope.duration)
    );
    if envelope.is_success() && !run.result.is_null() {
        text.push_str(&format!("\nresult: {}", clip(&run.result.to_string())));
    }
    section(&mut text, "stdout", &run.stdout);
    section(&mut text, "stderr", &run.stderr);
    for record in output.log_records() {
        text.push_str(&format!("\n{record}"));
    }
    // By field name, in the order of the JSON object.
    for (name, cut) in &run.truncated {
        text.push_str(&format!("\n[{name}: {}", cut.what));
        if let Some(full) = &cut.full {
            text.push_str(&format!("; full: {full}"));
        }
        text.push(']');
    }
    if let Some(error) = &envelope.error {
        let line = error
            .line()
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        text.push_str(&format!("\nerror: {error}{line}"));
    }
    if let Some(traceback) = &envelope.traceback {
        section(&mut text, "traceback", traceback);
    }
    let structured = serde_json::to_value(&output).expect("the output serializes");
    finish(structured, text, envelope.status != ExecStatus::Success)
}

/// `execute_code` in async mode: the job it became.
pub fn submitted_result(submitted: Submitted) -> CallToolResult {
    let structured = serde_json::to_value(ExecuteCodeOutput::submitted(submitted))
        .expect("the output serializes");
    json_result(structured)
}

/// `get_job`: the job's fields, and once it finished its result in the same shape as
/// `execute_code`'s; with `stdout_offset`, a bounded page of its stdout and where the next starts.
pub fn job_result(view: &JobView) -> CallToolResult {
    let summary = serde_json::to_value(&view.summary).unwrap_or_default();
    let (mut result, text) = match &view.envelope {
        Some(envelope) => {
            let rendered = envelope_result(envelope);
            let text = text_of(&rendered);
            (
                rendered,
                format!("job {} {}: {text}", view.summary.job_id, view.summary.state),
            )
        }
        None => (
            finish(json!({}), String::new(), false),
            format!(
                "job {} is {} (started {}); get_job with wait waits for it",
                view.summary.job_id,
                view.summary.state,
                if view.summary.started.is_some() {
                    "yes"
                } else {
                    "not yet"
                }
            ),
        ),
    };
    let mut structured = result
        .structured_content
        .take()
        .unwrap_or_else(|| json!({}));
    if let (Value::Object(map), Value::Object(fields)) = (&mut structured, summary) {
        for (key, value) in fields {
            // The envelope's status wins for a finished job (they agree); the job's state and
            // times are added.
            map.entry(key).or_insert(value);
        }
    }
    let mut text = text;
    if let Some(page) = &view.stdout {
        let chars: Vec<char> = page.text.chars().collect();
        let shown: String = chars.iter().take(budget::STREAM_CHARS).collect();
        let taken = shown.chars().count() as u64;
        let start = page.offset - chars.len() as u64;
        let next = start + taken;
        structured["stdout_page"] = json!({"from": start, "text": shown, "next_offset": next,
            "more": next < page.offset});
        text.push_str(&format!(
            "\nstdout from character {start} ({taken} shown{}):\n{shown}",
            if next < page.offset {
                format!("; the next page starts at stdout_offset {next}")
            } else {
                String::new()
            }
        ));
    }
    let is_error = result.is_error.unwrap_or(false);
    finish(structured, text, is_error)
}

/// Any other structured result, rendered as compact JSON. Structured content must be an object,
/// so anything else (e.g. the text reply of `put_persist_data`) is wrapped as `{"result": …}`.
pub fn json_result(value: Value) -> CallToolResult {
    let value = if value.is_object() {
        value
    } else {
        json!({ "result": value })
    };
    let text = clip(&value.to_string());
    finish(value, text, false)
}

/// `get_scene_info`: the page as structured content, and as text one line per object plus
/// how to get the next page (never JSON cut in the middle).
pub fn scene_result(value: Value) -> CallToolResult {
    let objects = value["objects"].as_array().cloned().unwrap_or_default();
    let offset = value["offset"].as_u64().unwrap_or(0);
    let total = value["object_count"]
        .as_u64()
        .unwrap_or(objects.len() as u64);
    let mut text = format!(
        "scene {}: {total} objects, frames {}–{} (current {}), engine {}, active {}",
        value["name"],
        value["frame_start"],
        value["frame_end"],
        value["frame_current"],
        value["render_engine"],
        value["active_object"]
    );
    if !objects.is_empty() {
        text.push_str(&format!(
            "\nobjects {}–{}:",
            offset,
            offset + objects.len() as u64 - 1
        ));
    }
    for object in &objects {
        let mut line = String::from("\n");
        for (key, field) in object.as_object().into_iter().flatten() {
            line.push_str(&format!("{key}={field} "));
        }
        if text.len() + line.len() > TEXT_LIMIT {
            text.push_str("\n… (the rest of this page is in the structured content)");
            break;
        }
        text.push_str(line.trim_end());
    }
    if let Some(next) = value["next_offset"].as_u64() {
        text.push_str(&format!(
            "\nmore objects: call get_scene_info with offset {next} (limit sets the page size, fields the columns)"
        ));
    }
    finish(value, text, false)
}

/// A failure the agent can act on (no Blender, Blender error reply): `isError` with the text.
pub fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// The text content of a result (what a failed call says).
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn finish(structured: Value, text: String, is_error: bool) -> CallToolResult {
    let mut result = CallToolResult::structured(structured);
    result.content = vec![ContentBlock::text(text)];
    result.is_error = Some(is_error);
    result
}

fn section(text: &mut String, name: &str, body: &str) {
    if !body.is_empty() {
        text.push_str(&format!("\n{name}:\n{}", clip(body.trim_end())));
    }
}

fn clip(text: &str) -> String {
    if text.len() <= TEXT_LIMIT {
        return text.to_owned();
    }
    let mut end = TEXT_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [{} more characters in the structured content]",
        &text[..end],
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(value: Value) -> Envelope {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_success_renders_result_and_output() {
        let e = envelope(json!({"status": "success", "result": {"a": 1},
            "output": {"stdout": "hi\n", "stderr": "", "logs": [{"source": "blender", "message": "Info: x"}]},
            "duration": 0.0004, "error": null, "traceback": null, "metadata": {"job_id": "job-1"}}));
        let result = envelope_result(&e);
        assert_eq!(result.is_error, Some(false));
        let structured = result.structured_content.unwrap();
        assert_eq!(structured["result"], json!({"a": 1}));
        assert_eq!(structured["stdout"], "hi\n");
        assert_eq!(structured["metadata"]["job_id"], "job-1");
        let text = serde_json::to_value(&result.content[0]).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            text,
            "status: success (0.4 ms)\nresult: {\"a\":1}\nstdout:\nhi\n[blender] Info: x"
        );
    }

    #[test]
    fn an_error_is_flagged_and_carries_the_traceback() {
        let e = envelope(json!({"status": "error", "result": null,
            "output": {"stdout": "", "stderr": "", "logs": []}, "duration": 0.001,
            "error": {"code": "execution_error", "type": "ZeroDivisionError", "message": "division by zero", "line": 1},
            "traceback": "Traceback...\nZeroDivisionError: division by zero\n", "metadata": {}}));
        let result = envelope_result(&e);
        assert_eq!(result.is_error, Some(true));
        let text = serde_json::to_value(&result.content[0]).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.contains("error: ZeroDivisionError: division by zero (line 1)"),
            "{text}"
        );
        assert!(text.contains("traceback:\nTraceback..."), "{text}");
    }

    #[test]
    fn structured_content_is_always_an_object() {
        let wrapped = json_result(json!("Data stored with key: k"));
        assert_eq!(
            wrapped.structured_content,
            Some(json!({"result": "Data stored with key: k"}))
        );
        let kept = json_result(json!({"removed": true}));
        assert_eq!(kept.structured_content, Some(json!({"removed": true})));
    }

    #[test]
    fn long_text_is_clipped_with_a_pointer_to_the_structured_content() {
        let long = "é".repeat(TEXT_LIMIT);
        let clipped = clip(&long);
        assert!(
            clipped.len() < long.len()
                && clipped.contains("more characters in the structured content")
        );
    }
}
