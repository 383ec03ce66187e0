//! What an agent receives is bounded: its context is the scarce resource. Every execution
//! result goes through here before it becomes a tool result (text and structured content
//! alike, since several clients hand the structured content to the model):
//!
//! * render progress (`Fra:1 Mem:… | Sample 3/16`, one line per update) collapses to its first
//!   and last line;
//! * a traceback printed again (a nested operator error prints the same one several times)
//!   is shown once;
//! * each output stream keeps its head and its tail within a budget, logs keep a number of
//!   records, and a large result value is replaced by a preview;
//!
//! and whatever was cut is said, with where the full data is (the job stays in Blender for an
//! hour: `get_job` pages through its stdout, the resource `blender://jobs/{job_id}/result`
//! holds the whole value).

use serde_json::{Value, json};

/// Characters of one output stream kept (head and tail together).
pub const STREAM_CHARS: usize = 6_000;
/// Of those, kept from the end (where errors and the final prints are).
const STREAM_TAIL_CHARS: usize = 2_000;
/// Characters of a result value's JSON kept whole; a larger one becomes a preview.
pub const RESULT_CHARS: usize = 6_000;
/// Log records kept (the last ones).
pub const LOG_RECORDS: usize = 20;
/// Render progress lines kept at each end of a run of them.
const PROGRESS_KEPT: usize = 1;

/// A stream as shown, and what was left out of it.
pub struct Shown {
    pub text: String,
    /// Characters in the stream before anything was left out.
    pub total_chars: usize,
    /// Progress lines and repeated tracebacks collapsed, characters cut: a note for the agent.
    pub note: Option<String>,
}

/// Bounds one output stream (stdout or stderr) for an agent.
pub fn stream(text: &str, known_traceback: Option<&str>) -> Shown {
    let total_chars = text.chars().count();
    let (collapsed, progress) = collapse_progress(text);
    let (deduplicated, repeats) = drop_repeated_tracebacks(&collapsed, known_traceback);
    let chars: Vec<char> = deduplicated.chars().collect();
    let mut notes = Vec::new();
    if progress > 0 {
        notes.push(format!("{progress} render progress lines collapsed"));
    }
    if repeats > 0 {
        notes.push(format!("{repeats} repeated tracebacks shown once"));
    }
    let text = if chars.len() > STREAM_CHARS {
        let head: String = chars[..STREAM_CHARS - STREAM_TAIL_CHARS].iter().collect();
        let tail: String = chars[chars.len() - STREAM_TAIL_CHARS..].iter().collect();
        let cut = chars.len() - STREAM_CHARS;
        notes.push(format!("{cut} characters cut from the middle"));
        format!("{head}\n… [{cut} characters cut] …\n{tail}")
    } else {
        deduplicated
    };
    Shown {
        text,
        total_chars,
        note: (!notes.is_empty()).then(|| notes.join(", ")),
    }
}

/// Runs of render progress lines become their first and last line.
fn collapse_progress(text: &str) -> (String, usize) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut collapsed = 0;
    let mut i = 0;
    while i < lines.len() {
        if !is_progress(lines[i]) {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && is_progress(lines[i]) {
            i += 1;
        }
        let run = &lines[start..i];
        if run.len() <= 2 * PROGRESS_KEPT + 1 {
            run.iter().for_each(|line| out.push_str(line));
        } else {
            let hidden = run.len() - 2 * PROGRESS_KEPT;
            collapsed += hidden;
            run[..PROGRESS_KEPT]
                .iter()
                .for_each(|line| out.push_str(line));
            out.push_str(&format!("… [{hidden} render progress lines] …\n"));
            run[run.len() - PROGRESS_KEPT..]
                .iter()
                .for_each(|line| out.push_str(line));
        }
    }
    (out, collapsed)
}

/// Blender's render status line: `Fra:1 Mem:… | Time:… | …`.
fn is_progress(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("Fra:") && line.contains(" Mem:")
}

/// Tracebacks (from `Traceback (most recent call last):` to the exception line) already shown
/// (earlier in the stream, or as the envelope's own traceback) become one line.
fn drop_repeated_tracebacks(text: &str, known: Option<&str>) -> (String, usize) {
    const START: &str = "Traceback (most recent call last):";
    if !text.contains(START) {
        return (text.to_owned(), 0);
    }
    let mut seen: Vec<String> = known.map(|t| t.trim().to_owned()).into_iter().collect();
    let mut out = String::with_capacity(text.len());
    let mut repeats = 0;
    let mut rest = text;
    while let Some(at) = rest.find(START) {
        out.push_str(&rest[..at]);
        let block = &rest[at..];
        // The block ends after the first line that is not indented (the exception line).
        let mut end = 0;
        for (n, line) in block.split_inclusive('\n').enumerate() {
            end += line.len();
            if n > 0 && !line.starts_with(' ') && !line.trim().is_empty() {
                break;
            }
        }
        let tb = &block[..end];
        if seen.iter().any(|s| s == tb.trim()) {
            repeats += 1;
            out.push_str("[the same traceback as above]\n");
        } else {
            seen.push(tb.trim().to_owned());
            out.push_str(tb);
        }
        rest = &block[end..];
    }
    out.push_str(rest);
    (out, repeats)
}

/// A result value whose JSON is larger than the budget becomes a preview naming its size.
pub fn result(value: &Value) -> (Value, Option<String>) {
    let text = value.to_string();
    let total = text.chars().count();
    if total <= RESULT_CHARS {
        return (value.clone(), None);
    }
    let preview: String = text.chars().take(RESULT_CHARS / 2).collect();
    (
        json!({"__truncated__": true, "json_chars": total, "preview": preview}),
        Some(format!(
            "the result is {total} characters of JSON; a preview is shown"
        )),
    )
}

/// Log records as shown: runs of render progress (Blender writes one status line per update,
/// and the addon records Blender's own output as log records) collapsed to their first and last
/// record, then the last [`LOG_RECORDS`]. Returns them, how many progress records were
/// collapsed, and how many records were dropped after that.
pub fn logs(records: &[Value]) -> (Vec<Value>, usize, usize) {
    let is_progress_record = |record: &Value| record["message"].as_str().is_some_and(is_progress);
    let mut kept = Vec::with_capacity(records.len());
    let mut collapsed = 0;
    let mut i = 0;
    while i < records.len() {
        if !is_progress_record(&records[i]) {
            kept.push(records[i].clone());
            i += 1;
            continue;
        }
        let start = i;
        while i < records.len() && is_progress_record(&records[i]) {
            i += 1;
        }
        let run = &records[start..i];
        if run.len() <= 2 * PROGRESS_KEPT + 1 {
            kept.extend(run.iter().cloned());
        } else {
            let hidden = run.len() - 2 * PROGRESS_KEPT;
            collapsed += hidden;
            kept.extend(run[..PROGRESS_KEPT].iter().cloned());
            kept.push(json!({"source": "bld-remote", "message": format!("… [{hidden} render progress lines] …")}));
            kept.extend(run[run.len() - PROGRESS_KEPT..].iter().cloned());
        }
    }
    let dropped = kept.len().saturating_sub(LOG_RECORDS);
    (kept.split_off(dropped), collapsed, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_progress_collapses_to_its_ends() {
        let mut text = String::from("start\n");
        for i in 1..=42 {
            text.push_str(&format!(
                "Fra:1 Mem:12.00M (Peak 12.00M) | Time:00:00.{i:02} | Scene | Sample {i}/42\n"
            ));
        }
        text.push_str("Saved: 'x.png'\n");
        let shown = stream(&text, None);
        assert!(shown.text.contains("Sample 1/42") && shown.text.contains("Sample 42/42"));
        assert!(!shown.text.contains("Sample 2/42"));
        assert!(shown.text.contains("… [40 render progress lines] …"));
        assert!(shown.text.starts_with("start\n") && shown.text.ends_with("Saved: 'x.png'\n"));
        assert_eq!(
            shown.note.as_deref(),
            Some("40 render progress lines collapsed")
        );
        assert_eq!(shown.total_chars, text.chars().count());
        let few = "Fra:1 Mem:1M | a\nFra:1 Mem:1M | b\n";
        assert_eq!(stream(few, None).text, few, "a couple are left alone");
    }

    #[test]
    fn a_repeated_traceback_is_shown_once() {
        let tb = "Traceback (most recent call last):\n  File \"<bld-remote:1>\", line 1, in <module>\nRuntimeError: boom\n";
        let text = format!("before\n{tb}{tb}middle\n{tb}");
        let shown = stream(&text, None);
        assert_eq!(
            shown.text.matches("RuntimeError: boom").count(),
            1,
            "{}",
            shown.text
        );
        assert_eq!(
            shown.text.matches("[the same traceback as above]").count(),
            2
        );
        assert!(shown.text.starts_with("before\n") && shown.text.contains("middle\n"));
        let known = stream(tb, Some(tb));
        assert_eq!(
            known.text, "[the same traceback as above]\n",
            "already in the envelope"
        );
    }

    #[test]
    fn a_long_stream_keeps_its_head_and_tail() {
        let text: String = (0..100_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let shown = stream(&text, None);
        assert!(shown.text.chars().count() < STREAM_CHARS + 100);
        assert!(
            shown.text.starts_with(&text[..100]) && shown.text.ends_with(&text[text.len() - 100..])
        );
        assert!(shown.note.unwrap().contains("94000 characters cut"));
        assert_eq!(shown.total_chars, 100_000);
        assert!(stream("short", None).note.is_none());
    }

    #[test]
    fn a_large_result_becomes_a_preview_and_logs_keep_the_last() {
        let big = json!((0..5000).collect::<Vec<_>>());
        let (shown, note) = result(&big);
        assert_eq!(shown["__truncated__"], true);
        assert_eq!(shown["json_chars"], big.to_string().len());
        assert!(note.unwrap().contains("characters of JSON"));
        let small = json!({"a": 1});
        assert_eq!(result(&small), (small.clone(), None));
        let records: Vec<Value> = (0..25).map(|i| json!({"message": i.to_string()})).collect();
        let (kept, collapsed, dropped) = logs(&records);
        assert_eq!((kept.len(), collapsed, dropped), (LOG_RECORDS, 0, 5));
        assert_eq!(kept[0]["message"], "5");
    }

    #[test]
    fn render_progress_records_collapse_and_a_warning_after_them_is_kept() {
        let mut records: Vec<Value> = (0..40)
            .map(|i| json!({"source": "blender", "message": format!("Fra:1 Mem:9.71M (Peak 9.71M) | Time:00:00.{i:02} | Scene | Sample {i}/40")}))
            .collect();
        records.insert(
            0,
            json!({"source": "python", "level": "WARNING", "message": "denoising turned off"}),
        );
        records.push(json!({"source": "blender", "message": "Saved: 'x.png'"}));
        let (kept, collapsed, dropped) = logs(&records);
        assert_eq!((collapsed, dropped), (38, 0));
        assert_eq!(kept.len(), 5);
        assert_eq!(kept[0]["message"], "denoising turned off");
        assert_eq!(kept[2]["message"], "… [38 render progress lines] …");
    }
}
