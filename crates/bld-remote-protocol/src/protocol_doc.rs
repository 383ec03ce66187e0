//! `docs/protocol.md`, read by the tests that hold this crate to it: the document is the source
//! of truth, so where it states a fact this crate also encodes (error codes, proofs, timings), a
//! test compares the two instead of trusting they were typed alike.

/// The whole document, as built into the test binary.
pub const TEXT: &str = include_str!("../../../docs/protocol.md");

/// The section whose heading line starts with `heading` (e.g. `"## 3."`), without the heading,
/// up to the next heading of the same level.
pub fn section(heading: &str) -> &'static str {
    let start = TEXT
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("no section `{heading}` in docs/protocol.md"))
        + 1;
    let body = &TEXT[start..];
    let body = &body[body.find('\n').map_or(body.len(), |end| end + 1)..];
    let level = heading.split(' ').next().unwrap_or("##");
    let end = body
        .match_indices(&format!("\n{level} "))
        .map(|(at, _)| at + 1)
        .next()
        .unwrap_or(body.len());
    &body[..end]
}

/// The rows of the first table in `text` whose header row is `header` (cells trimmed, the
/// header and the separator row left out).
pub fn table<'a>(text: &'a str, header: &[&str]) -> Vec<Vec<&'a str>> {
    let mut lines = text.lines().skip_while(|line| cells(line) != header);
    assert!(
        lines.next().is_some(),
        "no table with header {header:?} in the section"
    );
    lines
        .skip(1)
        .take_while(|line| line.trim_start().starts_with('|'))
        .map(cells)
        .collect()
}

/// `| a | b |` → `["a", "b"]`.
fn cells(line: &str) -> Vec<&str> {
    let line = line.trim();
    let Some(inner) = line.strip_prefix('|').and_then(|l| l.strip_suffix('|')) else {
        return Vec::new();
    };
    inner.split('|').map(str::trim).collect()
}

/// `` `name` `` → `name`.
pub fn unquote(cell: &str) -> &str {
    cell.trim_matches('`')
}
