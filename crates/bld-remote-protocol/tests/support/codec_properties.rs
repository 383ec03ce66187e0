// Properties of the wire codec that must hold for ANY input; a panic is a finding.
//
// Shared, unchanged, by `tests/codec_fuzz.rs` (what CI runs, on stable, with generated inputs)
// and by the cargo-fuzz targets in `fuzz/` (which `#[path]`-include this file). Keeping it a
// plain test-support file, rather than a `fuzzing` module behind a cargo feature, means no test
// code enters the library, and CI needs no feature flag: `required-features` would make a bare
// `cargo test --workspace` skip the test silently, and a self dev-dependency to switch the
// feature on is a trick readers stumble over.
//
// It may only use what both includers depend on: this crate, serde and serde_json.

use bld_remote_protocol::{
    Command, Envelope, ErrorCode, ErrorObject, ExecStatus, ExecuteCode, ExecutionMode, FrameError,
    Hello, JobSummary, JobView, JobsCount, LineDecoder, LogRecord, Output, PlainReply, Reply,
    ReplyStatus, Request, RequestId, ScreenshotFormat, Status, StdoutSince, Submitted,
    encode_command, encode_request,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

/// Bytes a stream input starts with: the line limit, then the sizes of four reads.
pub const STREAM_HEADER: usize = 5;

/// What a [`LineDecoder`] reports, in a form two runs can be compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Line(Vec<u8>),
    TooLarge,
}

/// A stream input: `[limit/8, read₁, read₂, read₃, read₄, stream…]`. Each read byte `b` takes
/// `b²` bytes off the stream (0 = an empty read, as a spurious wakeup gives), cycling; squaring
/// keeps tiny reads likely while still allowing reads longer than any line.
pub fn check_stream(data: &[u8]) {
    for line in check_framing(data) {
        check_frame(&line);
    }
}

/// [`check_stream`] without the frame checks: the lines the stream holds, once their framing
/// is checked. (The CI test checks each distinct line once; most repeat a seed.)
pub fn check_framing(data: &[u8]) -> Vec<Vec<u8>> {
    let Some((header, stream)) = data.split_first_chunk::<STREAM_HEADER>() else {
        return Vec::new();
    };
    let limit = usize::from(header[0]) * 8;
    let mut reads: Vec<usize> = header[1..]
        .iter()
        .map(|&b| usize::from(b) * usize::from(b))
        .collect();
    if reads.iter().all(|&n| n == 0) {
        // Only empty reads would never get through the stream.
        reads = vec![1];
    }

    let (expected, expected_pending) = reference_decode(stream, limit);

    let mut whole = LineDecoder::new(limit);
    whole.push(stream);
    let got = drain(&mut whole, limit, stream.len());
    assert_eq!(got, expected, "one read, limit {limit}");
    assert_eq!(whole.pending(), expected_pending, "one read, limit {limit}");

    let mut chunked = LineDecoder::new(limit);
    let mut got = Vec::new();
    let mut rest = stream;
    for &read in reads.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(read.min(rest.len()));
        rest = tail;
        chunked.push(chunk);
        assert!(
            chunked.pending() <= limit + chunk.len(),
            "{} bytes buffered with limit {limit} after a read of {}",
            chunked.pending(),
            chunk.len()
        );
        got.extend(drain(&mut chunked, limit, chunk.len()));
    }
    assert_eq!(got, expected, "reads of {reads:?} bytes, limit {limit}");
    assert_eq!(chunked.pending(), expected_pending, "reads of {reads:?}");

    expected
        .into_iter()
        .filter_map(|event| match event {
            Event::Line(line) => Some(line),
            Event::TooLarge => None,
        })
        .collect()
}

/// Takes every event the decoder has, checking what it guarantees on the way: buffered bytes
/// stay within the limit plus the last read, and within the limit once it has nothing to give
/// (an oversized partial line is dropped as soon as it passes the limit).
fn drain(decoder: &mut LineDecoder, limit: usize, last_read: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(next) = decoder.next_line() {
        assert!(decoder.pending() <= limit + last_read);
        events.push(match next {
            Ok(line) => {
                assert!(
                    line.len() <= limit,
                    "a line of {} > {limit} bytes",
                    line.len()
                );
                assert!(!line.contains(&b'\n'));
                assert!(
                    !line.iter().all(is_json_whitespace),
                    "a blank line was given"
                );
                Event::Line(line)
            }
            Err(FrameError::TooLarge { limit: reported }) => {
                assert_eq!(reported, limit);
                Event::TooLarge
            }
        });
    }
    assert!(
        decoder.pending() <= limit,
        "{} bytes buffered at rest with limit {limit}",
        decoder.pending()
    );
    events
}

/// The framing rules of `docs/protocol.md` §2 written the obvious way, over the whole stream
/// at once: `\n`-separated lines; blank ones (JSON whitespace only) skipped; one over the limit
/// reported, also when it is the unterminated tail. Returns the events and the bytes left over.
pub fn reference_decode(stream: &[u8], limit: usize) -> (Vec<Event>, usize) {
    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let tail = lines.pop().expect("split yields at least one piece");
    let mut events = Vec::new();
    for line in lines {
        if line.len() > limit {
            events.push(Event::TooLarge);
        } else if !line.iter().all(is_json_whitespace) {
            events.push(Event::Line(line.to_vec()));
        }
    }
    if tail.len() > limit {
        events.push(Event::TooLarge);
        (events, 0)
    } else {
        (events, tail.len())
    }
}

/// The whitespace JSON allows between values (RFC 8259), which §2 skips between messages.
fn is_json_whitespace(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// One line, as if read off the wire: whatever parses as one of the protocol types must
/// survive being encoded and parsed again, and the types that read the same frame must agree.
pub fn check_frame(line: &[u8]) {
    // Every parse below fails on bytes that are not one JSON value, so skip them at once: it
    // makes the CI run several times faster. Sound, because skipping validates less than any
    // typed parse does (strings are neither unescaped nor checked for UTF-8 when skipped).
    if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err() {
        return;
    }
    check_request(line);
    check_reply(line);

    round_trip::<Value>(line);
    round_trip::<Command>(line);
    round_trip::<ExecuteCode>(line);
    round_trip::<RequestId>(line);
    round_trip::<Envelope>(line);
    round_trip::<Output>(line);
    round_trip::<LogRecord>(line);
    round_trip::<ErrorObject>(line);
    round_trip::<ErrorCode>(line);
    round_trip::<Hello>(line);
    round_trip::<Status>(line);
    round_trip::<JobsCount>(line);
    round_trip::<JobSummary>(line);
    round_trip::<JobView>(line);
    round_trip::<Submitted>(line);
    round_trip::<StdoutSince>(line);
    round_trip::<ExecStatus>(line);
    round_trip::<ReplyStatus>(line);
    round_trip::<ExecutionMode>(line);
    round_trip::<ScreenshotFormat>(line);

    if let Ok(command) = serde_json::from_slice::<Command>(line) {
        let _ = command.replies_with_envelope();
        assert_eq!(wire_name(line), command.name(), "the name of {command:?}");
    }
    if let Ok(error) = serde_json::from_slice::<ErrorObject>(line) {
        let _ = (error.to_string(), error.line(), error.param());
    }
    if let Ok(record) = serde_json::from_slice::<LogRecord>(line) {
        let _ = record.to_string();
    }
}

fn check_request(line: &[u8]) {
    let Ok(request) = serde_json::from_slice::<Request>(line) else {
        return;
    };
    let encoded = encode_request(&request);
    let (body, newline) = encoded.split_at(encoded.len() - 1);
    assert_eq!(newline, b"\n");
    assert!(!body.contains(&b'\n'), "a request must be one line");
    let back: Request = serde_json::from_slice(body).unwrap_or_else(|err| {
        panic!(
            "{request:?} encoded as {} does not parse: {err}",
            body.escape_ascii()
        )
    });
    assert_eq!(back, request, "through {}", body.escape_ascii());

    if let Some(id) = &request.id {
        let borrowed = encode_command(id, &request.command);
        assert_eq!(
            borrowed, encoded,
            "encode_command and encode_request differ"
        );
    }

    assert_eq!(wire_name(line), request.command.name());
    // Request reads its command through `#[serde(flatten)]`, which buffers the fields first;
    // that must not change what the command is. (Not the converse: the buffering decodes
    // fields Command alone skips unread, so Command takes frames Request refuses.)
    let command = serde_json::from_slice::<Command>(line);
    assert_eq!(command.as_ref().ok(), Some(&request.command), "{command:?}");

    // The encoded line goes through the decoder untouched, even with the tightest limit.
    let mut decoder = LineDecoder::new(body.len());
    decoder.push(&encoded);
    assert_eq!(decoder.next_line(), Some(Ok(body.to_vec())));
    assert_eq!(decoder.next_line(), None);
    assert_eq!(decoder.pending(), 0);
}

/// The `type` of a frame that parsed as a command. Read with a struct rather than as a
/// [`Value`]: serde_json skips ignored fields without decoding their strings, so a frame whose
/// other fields hold, say, a lone surrogate `\ud800` parses as a command but not as a `Value`.
fn wire_name(line: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Tagged {
        r#type: String,
    }
    let tagged: Tagged = serde_json::from_slice(line).expect("a command has a string type");
    tagged.r#type
}

fn check_reply(line: &[u8]) {
    // Not a property: whatever Reply refuses, PlainReply refuses too. serde_json checks neither
    // UTF-8 nor escapes in the fields it skips, so PlainReply takes `{"status":"success",
    // "metadata":"\xff"}`, which Reply, reading every field, rightly refuses.
    let Ok(reply) = Reply::from_slice(line) else {
        return;
    };
    assert!(!reply.body.contains_key("id"), "the id stays in the body");
    let _ = reply.status();

    let mut object = reply.body.clone();
    if let Some(id) = &reply.id {
        object.insert(
            "id".into(),
            serde_json::to_value(id).expect("ids serialize"),
        );
    }
    let again = serde_json::to_vec(&object).expect("a JSON object serializes");
    assert_eq!(Reply::from_slice(&again).as_ref(), Ok(&reply));

    if let Ok(plain) = serde_json::from_slice::<PlainReply>(line) {
        assert_eq!(
            plain.id, reply.id,
            "PlainReply and Reply read different ids"
        );
    }

    match reply.clone().into_result() {
        Ok(Ok(result)) => assert_round_trip(&result),
        Ok(Err(error)) => {
            let _ = error.to_string();
            assert_round_trip(&error);
        }
        Err(malformed) => {
            let _ = malformed.to_string();
        }
    }
    match reply.into_envelope() {
        Ok(Ok(envelope)) => {
            let _ = (envelope.is_success(), envelope.job_id());
            assert_round_trip(&envelope);
            // The same line read as an Envelope directly (its `id` an unknown field).
            if let Ok(direct) = serde_json::from_slice::<Envelope>(line) {
                assert_eq!(direct, envelope);
            }
        }
        Ok(Err(error)) => assert_round_trip(&error),
        Err(malformed) => {
            let _ = malformed.to_string();
        }
    }
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(line: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(line) {
        assert_round_trip(&value);
    }
}

fn assert_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let text = serde_json::to_vec(value).expect("protocol values always serialize");
    let back: T = serde_json::from_slice(&text).unwrap_or_else(|err| {
        panic!(
            "{value:?} serialized as {} does not parse: {err}",
            text.escape_ascii()
        )
    });
    assert_eq!(&back, value, "through {}", text.escape_ascii());
}
