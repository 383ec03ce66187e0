//! Colour for people, plain text for pipes: ANSI styles only when the stream is a terminal and
//! `NO_COLOR` is unset.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy)]
pub struct Painter {
    enabled: bool,
}

impl Painter {
    fn for_stream(is_terminal: bool) -> Painter {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Painter {
            enabled: is_terminal && !no_color,
        }
    }

    pub fn stdout() -> Painter {
        Painter::for_stream(std::io::stdout().is_terminal())
    }

    pub fn stderr() -> Painter {
        Painter::for_stream(std::io::stderr().is_terminal())
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// A duration for people: milliseconds below a second, else seconds.
pub fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_a_readable_unit() {
        assert_eq!(duration(0.00042), "0.4 ms");
        assert_eq!(duration(2.5), "2.50 s");
    }

    #[test]
    fn plain_when_disabled_and_ansi_when_enabled() {
        assert_eq!(Painter { enabled: false }.error("x"), "x");
        assert_eq!(Painter { enabled: true }.error("x"), "\x1b[1;31mx\x1b[0m");
        assert_eq!(Painter { enabled: true }.dim("d"), "\x1b[2md\x1b[0m");
    }
}
