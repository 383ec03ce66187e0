//! Tool results: the structured content (what the output schema declares) and a compact text
//! rendering of it for clients that ignore structured content.

use bld_remote_protocol::{Envelope, ExecStatus};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// Longest text rendering of a value; the structured content always has all of it.
const TEXT_LIMIT: usize = 8000;

/// The structured form of an execution envelope.
pub fn envelope_structured(envelope: &Envelope) -> Value {
    json!({
        "status": envelope.status.as_str(),
        "result": envelope.result,
        "stdout": envelope.output.stdout,
        "stderr": envelope.output.stderr,
        "logs": envelope.output.logs,
        "duration": envelope.duration,
        "error": envelope.error,
        "traceback": envelope.traceback,
        "metadata": envelope.metadata,
    })
}

/// `execute_code`'s result: structured content, text, and `isError` unless it succeeded.
pub fn envelope_result(envelope: &Envelope) -> CallToolResult {
    let mut text = format!(
        "status: {} ({})",
        envelope.status.as_str(),
        crate::style::duration(envelope.duration)
    );
    if envelope.is_success() && !envelope.result.is_null() {
        text.push_str(&format!("\nresult: {}", clip(&envelope.result.to_string())));
    }
    section(&mut text, "stdout", &envelope.output.stdout);
    section(&mut text, "stderr", &envelope.output.stderr);
    for record in &envelope.output.logs {
        text.push_str(&format!("\n{record}"));
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
    finish(
        envelope_structured(envelope),
        text,
        envelope.status != ExecStatus::Success,
    )
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
