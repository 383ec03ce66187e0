//! v1 framing (`docs/protocol.md` §2): one compact JSON object per line, `\n`-terminated.
//!
//! [`LineDecoder`] turns a byte stream into lines with a size limit; it is pure (no I/O), so the
//! tokio client feeds it whatever `read` returned and the rules are tested without sockets. An
//! oversized line is reported once and skipped up to its `\n`, so the stream stays usable, just
//! as the server does.

use crate::request::{Command, Request, RequestId};
use serde::Serialize;

/// Encodes a request as one line. Requests always carry an id (the server recognises an
/// id-less message as v1 only when its `\n` arrives in the same read).
pub fn encode_request(request: &Request) -> Vec<u8> {
    // Serializing these types cannot fail: every map key is a string and no value is a float NaN
    // (the protocol types hold f64 only for timeouts and waits that callers set).
    let mut line = serde_json::to_vec(request).expect("requests always serialize");
    line.push(b'\n');
    line
}

/// Encodes `command` with `id` without copying the command (its code may be megabytes).
pub fn encode_command(id: &RequestId, command: &Command) -> Vec<u8> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        id: &'a RequestId,
        #[serde(flatten)]
        command: &'a Command,
    }
    let mut line =
        serde_json::to_vec(&Borrowed { id, command }).expect("requests always serialize");
    line.push(b'\n');
    line
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a message of more than {limit} bytes was received and skipped")]
    TooLarge { limit: usize },
}

/// Splits a byte stream into `\n`-terminated lines of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for `\n`, so a long line is not rescanned on every read.
    scanned: usize,
    max_line: usize,
    /// Inside an oversized line: drop bytes until its end.
    discarding: bool,
}

impl LineDecoder {
    pub fn new(max_line: usize) -> Self {
        LineDecoder {
            buf: Vec::new(),
            scanned: 0,
            max_line,
            discarding: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered that do not yet form a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete line (without `\n`; blank lines are skipped), an error for a line over
    /// the limit, or `None` until more bytes arrive.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            let newline = self.buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| self.scanned + i);
            let Some(end) = newline else {
                self.scanned = self.buf.len();
                if !self.discarding && self.buf.len() > self.max_line {
                    // Report as soon as the limit is passed; the rest of the line is dropped.
                    self.discarding = true;
                    self.clear();
                    return Some(Err(FrameError::TooLarge {
                        limit: self.max_line,
                    }));
                }
                if self.discarding {
                    self.clear();
                }
                return None;
            };
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            self.scanned = 0;
            line.pop();
            if std::mem::take(&mut self.discarding) {
                continue;
            }
            if line.len() > self.max_line {
                return Some(Err(FrameError::TooLarge {
                    limit: self.max_line,
                }));
            }
            if line.iter().all(is_blank) {
                continue;
            }
            return Some(Ok(line));
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.scanned = 0;
    }
}

/// The whitespace §2 skips between messages, which is JSON's (space, tab, CR, LF). Not
/// `u8::is_ascii_whitespace`: that also counts a form feed, so a `\x0c` line would vanish
/// while `\x0c{}` is a malformed reply.
fn is_blank(byte: &u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Command;

    fn lines(decoder: &mut LineDecoder) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| decoder.next_line()).collect()
    }

    #[test]
    fn a_request_is_one_compact_line() {
        let line = encode_request(&Request::new(5, Command::Ping));
        assert_eq!(line, b"{\"id\":5,\"type\":\"ping\"}\n");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn encode_command_matches_encode_request() {
        let command = Command::GetJob {
            job_id: "job-1".into(),
            wait: Some(1.0),
            stdout_offset: None,
        };
        let id = RequestId::Str("q".into());
        assert_eq!(
            encode_command(&id, &command),
            encode_request(&Request {
                id: Some(id.clone()),
                command
            })
        );
    }

    #[test]
    fn newlines_inside_code_are_escaped() {
        let exec = crate::request::ExecuteCode::new("print(1)\nprint(2)");
        let line = encode_request(&Request::new(1, Command::ExecuteCode(exec)));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut decoder = LineDecoder::new(1024);
        decoder.push(b"{\"a\":");
        assert!(decoder.next_line().is_none());
        decoder.push(b"1}\n{\"b\":2}\n{\"c\"");
        let got = lines(&mut decoder);
        assert_eq!(
            got,
            vec![Ok(b"{\"a\":1}".to_vec()), Ok(b"{\"b\":2}".to_vec())]
        );
        assert_eq!(decoder.pending(), 4);
    }

    #[test]
    fn blank_lines_are_skipped() {
        let mut decoder = LineDecoder::new(1024);
        decoder.push(b"\n \r\n{}\n");
        assert_eq!(lines(&mut decoder), vec![Ok(b"{}".to_vec())]);
    }

    #[test]
    fn only_json_whitespace_makes_a_line_blank() {
        // Found by the stream properties (tests/codec_fuzz.rs): a form feed line was skipped.
        let mut decoder = LineDecoder::new(1024);
        decoder.push(b" \t\r\n\x0c\n\x0b\n");
        assert_eq!(
            lines(&mut decoder),
            vec![Ok(b"\x0c".to_vec()), Ok(b"\x0b".to_vec())]
        );
    }

    #[test]
    fn an_oversized_line_is_reported_once_and_the_stream_goes_on() {
        let mut decoder = LineDecoder::new(8);
        decoder.push(b"0123456789");
        assert_eq!(
            decoder.next_line(),
            Some(Err(FrameError::TooLarge { limit: 8 }))
        );
        decoder.push(b"abcdef");
        assert_eq!(decoder.next_line(), None, "still inside the oversized line");
        decoder.push(b"\n{\"ok\":1}\n");
        assert_eq!(lines(&mut decoder), vec![Ok(b"{\"ok\":1}".to_vec())]);
    }

    #[test]
    fn an_oversized_complete_line_is_refused() {
        let mut decoder = LineDecoder::new(4);
        decoder.push(b"123456\n{}\n");
        assert_eq!(
            lines(&mut decoder),
            vec![Err(FrameError::TooLarge { limit: 4 }), Ok(b"{}".to_vec())]
        );
    }

    #[test]
    fn a_line_exactly_at_the_limit_passes() {
        let mut decoder = LineDecoder::new(4);
        decoder.push(b"1234");
        assert_eq!(decoder.next_line(), None);
        decoder.push(b"\n");
        assert_eq!(decoder.next_line(), Some(Ok(b"1234".to_vec())));
    }
}
