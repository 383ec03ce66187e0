//! Find out which process is listening on a local TCP port.
//!
//! When `bld-remote start --port N` cannot bind because the port is taken, a bare
//! "address in use" leaves the user guessing; naming the holder (often a stale
//! Blender or a forgotten dev server) makes the fix obvious.
//!
//! On Linux this is answered from procfs, without extra dependencies or shelling
//! out to `ss`/`lsof`:
//!
//! 1. `/proc/net/tcp` and `/proc/net/tcp6` list sockets; the rows in state `0A`
//!    (LISTEN) on the wanted local port give socket inodes (`bld_remote_client::proc_net`).
//! 2. Every `/proc/<pid>/fd/*` symlink pointing at `socket:[<inode>]` belongs to a
//!    process holding that socket.
//! 3. `/proc/<pid>/comm` and `/proc/<pid>/cmdline` give a human-readable name.
//!
//! Other operating systems get `None`: the caller then just reports the bind error.
//!
//! This is best effort by design. It only runs on an error path, so every failure
//! (a process exiting mid-scan, another user's fd directory being unreadable)
//! degrades the answer instead of producing a new error.

// Only `who_holds` is reachable on non-Linux targets; the procfs helpers still
// compile there (and their pure parts are tested) but would be dead code.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fmt;
use std::fs;
use std::path::Path;

/// Command lines can be huge (long argument lists); the message only needs enough
/// to recognise the program.
const MAX_COMMAND_LINE_CHARS: usize = 200;

/// The process holding a port, as far as this user can see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `None` when the socket exists but no visible process owns it, typically
    /// because it belongs to another user.
    pub pid: Option<u32>,
    /// Short program name from `/proc/<pid>/comm`.
    pub name: Option<String>,
    /// Space-joined arguments from `/proc/<pid>/cmdline`, truncated.
    pub command_line: Option<String>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(pid) = self.pid else {
            return f.write_str("an unknown process (its pid is not visible to this user)");
        };
        let name = self.name.as_deref().unwrap_or("a process");
        match &self.command_line {
            Some(command_line) => write!(f, "{name} (pid {pid}: {command_line})"),
            None => write!(f, "{name} (pid {pid})"),
        }
    }
}

/// Who listens on TCP `port` (any local address, IPv4 or IPv6). `None` if nobody
/// listens or the OS is unsupported.
pub fn who_holds(port: u16) -> Option<Holder> {
    #[cfg(target_os = "linux")]
    {
        who_holds_in(Path::new("/proc"), port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

/// Same lookup as [`who_holds`], against a procfs-like tree rooted at
/// `proc_root` (so tests can use a fake one).
pub fn who_holds_in(proc_root: &Path, port: u16) -> Option<Holder> {
    let inodes = listening_inodes_in(proc_root, port);
    if inodes.is_empty() {
        return None;
    }
    let holder = match find_pid_owning(proc_root, &inodes) {
        Some(pid) => describe_pid(proc_root, pid),
        None => Holder {
            pid: None,
            name: None,
            command_line: None,
        },
    };
    Some(holder)
}

/// Inodes of the sockets listening on local `port`, from the text of `/proc/net/tcp` or
/// `/proc/net/tcp6` (parsed by the client's `proc_net`, which also checks listeners' owners).
pub fn listening_inodes(proc_net_tcp: &str, port: u16) -> Vec<u64> {
    bld_remote_client::proc_net::listeners(proc_net_tcp)
        .into_iter()
        .filter(|listener| listener.local.port() == port)
        .map(|listener| listener.inode)
        .collect()
}

/// Listening inodes from both the IPv4 and IPv6 tables. A missing table (e.g.
/// IPv6 disabled) simply contributes nothing.
fn listening_inodes_in(proc_root: &Path, port: u16) -> Vec<u64> {
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(proc_root.join("net").join(table)).ok())
        .flat_map(|text| listening_inodes(&text, port))
        .collect()
}

/// The first process with an fd pointing at one of `inodes`. Processes whose fd
/// directory cannot be read (other users, exited meanwhile) are skipped.
fn find_pid_owning(proc_root: &Path, inodes: &[u64]) -> Option<u32> {
    // The kernel renders socket fd links exactly like this.
    let targets: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    pids(proc_root).find(|&pid| has_fd_linking_to(proc_root, pid, &targets))
}

/// Numeric entries of `proc_root`, i.e. process ids (skips `self`, `net`, ...).
fn pids(proc_root: &Path) -> impl Iterator<Item = u32> {
    fs::read_dir(proc_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
}

fn has_fd_linking_to(proc_root: &Path, pid: u32, targets: &[String]) -> bool {
    let fd_dir = proc_root.join(pid.to_string()).join("fd");
    let Ok(entries) = fs::read_dir(fd_dir) else {
        return false;
    };
    entries
        .flatten()
        .filter_map(|entry| fs::read_link(entry.path()).ok())
        .any(|link| {
            targets
                .iter()
                .any(|target| link.as_os_str() == target.as_str())
        })
}

fn describe_pid(proc_root: &Path, pid: u32) -> Holder {
    let pid_dir = proc_root.join(pid.to_string());
    Holder {
        pid: Some(pid),
        name: read_comm(&pid_dir.join("comm")),
        command_line: read_cmdline(&pid_dir.join("cmdline")),
    }
}

/// `comm` is the short program name followed by a newline.
fn read_comm(path: &Path) -> Option<String> {
    let text = fs::read(path).ok()?;
    non_empty(String::from_utf8_lossy(&text).trim().to_owned())
}

/// `cmdline` holds the arguments, each terminated by NUL. It is empty for kernel
/// threads and zombies, which then get no command line.
fn read_cmdline(path: &Path) -> Option<String> {
    let raw = fs::read(path).ok()?;
    let joined = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|arg| !arg.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    non_empty(truncate_chars(joined, MAX_COMMAND_LINE_CHARS))
}

/// Truncates on a char boundary, marking the cut with an ellipsis.
fn truncate_chars(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
    const TCP6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    /// Port 6688 is 0x1A20.
    const PORT: u16 = 6688;

    fn tcp_table(rows: &[&str]) -> String {
        std::iter::once(TCP_HEADER)
            .chain(rows.iter().copied())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    fn tcp6_table(rows: &[&str]) -> String {
        std::iter::once(TCP6_HEADER)
            .chain(rows.iter().copied())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// A row in the real kernel layout, with the fields under test substituted.
    fn row(local: &str, state: &str, inode: u64) -> String {
        format!(
            "   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 100 0 0 10 0"
        )
    }

    fn row6(local: &str, state: &str, inode: u64) -> String {
        format!(
            "   0: {local} 00000000000000000000000000000000:0000 {state} 00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0000000000000000 100 0 0 10 0"
        )
    }

    #[test]
    fn finds_ipv4_loopback_listener() {
        let text = tcp_table(&[&row("0100007F:1A20", "0A", 4242)]);
        assert_eq!(listening_inodes(&text, PORT), vec![4242]);
    }

    #[test]
    fn finds_ipv4_wildcard_listener() {
        let text = tcp_table(&[&row("00000000:1A20", "0A", 777)]);
        assert_eq!(listening_inodes(&text, PORT), vec![777]);
    }

    #[test]
    fn finds_ipv6_loopback_listener() {
        let text = tcp6_table(&[&row6("00000000000000000000000001000000:1A20", "0A", 9001)]);
        assert_eq!(listening_inodes(&text, PORT), vec![9001]);
    }

    #[test]
    fn port_is_read_as_big_endian_hex() {
        // 0x201A would be the answer if the port bytes were wrongly swapped.
        let text = tcp_table(&[&row("0100007F:1A20", "0A", 1)]);
        assert!(listening_inodes(&text, 0x201A).is_empty());
        assert_eq!(listening_inodes(&text, 0x1A20), vec![1]);
    }

    #[test]
    fn ignores_non_listen_rows_on_same_port() {
        let text = tcp_table(&[
            // 01 = ESTABLISHED, 06 = TIME_WAIT: clients of the port, not holders.
            &row("0100007F:1A20", "01", 11),
            &row("0100007F:1A20", "06", 0),
            &row("0100007F:1A20", "0A", 12),
        ]);
        assert_eq!(listening_inodes(&text, PORT), vec![12]);
    }

    #[test]
    fn ignores_other_ports() {
        let text = tcp_table(&[
            &row("0100007F:1A21", "0A", 13),
            &row("0100007F:0050", "0A", 14),
        ]);
        assert!(listening_inodes(&text, PORT).is_empty());
        assert_eq!(listening_inodes(&text, 80), vec![14]);
    }

    #[test]
    fn ignores_malformed_rows() {
        let text = tcp_table(&[
            "",
            "garbage",
            "   0: 0100007F:1A20 00000000:0000 0A", // truncated
            &row("0100007F:ZZZZ", "0A", 20),        // bad port
            &row("0100007F1A20", "0A", 21),         // no colon
            &row("7F:1A20", "0A", 22),              // short address
            // Bad inode.
            "   0: 0100007F:1A20 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 x 1",
            &row("0100007F:1A20", "0A", 23),
        ]);
        assert_eq!(listening_inodes(&text, PORT), vec![23]);
    }

    #[test]
    fn header_only_table_has_no_listeners() {
        assert!(listening_inodes(&tcp_table(&[]), PORT).is_empty());
        assert!(listening_inodes("", PORT).is_empty());
    }

    #[test]
    fn display_with_full_details() {
        let holder = Holder {
            pid: Some(1234),
            name: Some("python3".into()),
            command_line: Some("python3 -m http.server 6688".into()),
        };
        assert_eq!(
            holder.to_string(),
            "python3 (pid 1234: python3 -m http.server 6688)"
        );
    }

    #[test]
    fn display_with_partial_details() {
        let holder = Holder {
            pid: Some(7),
            name: None,
            command_line: None,
        };
        assert_eq!(holder.to_string(), "a process (pid 7)");
    }

    #[test]
    fn display_with_unknown_pid() {
        let holder = Holder {
            pid: None,
            name: None,
            command_line: None,
        };
        assert_eq!(
            holder.to_string(),
            "an unknown process (its pid is not visible to this user)"
        );
    }

    #[test]
    fn truncates_long_text_on_char_boundary() {
        let long = "é".repeat(250);
        let cut = truncate_chars(long, MAX_COMMAND_LINE_CHARS);
        assert_eq!(cut.chars().count(), MAX_COMMAND_LINE_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_chars("short".into(), 200), "short");
    }

    /// Fake procfs trees built in a tempdir; needs Unix symlinks.
    #[cfg(unix)]
    mod fake_proc {
        use super::*;
        use std::os::unix::fs::symlink;
        use std::path::PathBuf;

        struct FakeProc {
            dir: tempfile::TempDir,
        }

        impl FakeProc {
            fn new() -> Self {
                let dir = tempfile::tempdir().unwrap();
                fs::create_dir(dir.path().join("net")).unwrap();
                Self { dir }
            }

            fn root(&self) -> &Path {
                self.dir.path()
            }

            fn net(&self, table: &str, text: &str) {
                fs::write(self.root().join("net").join(table), text).unwrap();
            }

            /// A process with the given socket fds. Link targets don't exist,
            /// just like real `socket:[...]` links.
            fn process(&self, pid: u32, comm: &str, cmdline: &[u8], socket_inodes: &[u64]) {
                let pid_dir = self.pid_dir(pid);
                fs::create_dir_all(pid_dir.join("fd")).unwrap();
                symlink("/dev/null", pid_dir.join("fd").join("0")).unwrap();
                for (i, inode) in socket_inodes.iter().enumerate() {
                    let link = pid_dir.join("fd").join((i + 3).to_string());
                    symlink(format!("socket:[{inode}]"), link).unwrap();
                }
                fs::write(pid_dir.join("comm"), comm).unwrap();
                fs::write(pid_dir.join("cmdline"), cmdline).unwrap();
            }

            fn pid_dir(&self, pid: u32) -> PathBuf {
                self.root().join(pid.to_string())
            }
        }

        #[test]
        fn resolves_pid_name_and_command_line() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[&row("0100007F:1A20", "0A", 5555)]));
            proc.process(100, "bash\n", b"bash\0", &[1111]);
            proc.process(
                1234,
                "python3\n",
                b"python3\0-m\0http.server\x006688\0",
                &[2222, 5555],
            );

            let holder = who_holds_in(proc.root(), PORT).expect("listener exists");
            assert_eq!(
                holder,
                Holder {
                    pid: Some(1234),
                    name: Some("python3".into()),
                    command_line: Some("python3 -m http.server 6688".into()),
                }
            );
        }

        #[test]
        fn resolves_ipv6_only_listener() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[]));
            proc.net(
                "tcp6",
                &tcp6_table(&[&row6("00000000000000000000000001000000:1A20", "0A", 66)]),
            );
            proc.process(42, "blender\n", b"/opt/blender/blender\0-b\0", &[66]);

            let holder = who_holds_in(proc.root(), PORT).expect("listener exists");
            assert_eq!(holder.pid, Some(42));
            assert_eq!(holder.name.as_deref(), Some("blender"));
            assert_eq!(
                holder.command_line.as_deref(),
                Some("/opt/blender/blender -b")
            );
        }

        #[test]
        fn nobody_listening_gives_none() {
            let proc = FakeProc::new();
            // Same port but only an established connection, plus an unrelated
            // listener that a process does own.
            proc.net(
                "tcp",
                &tcp_table(&[
                    &row("0100007F:1A20", "01", 5),
                    &row("0100007F:1A21", "0A", 6),
                ]),
            );
            proc.process(10, "x\n", b"x\0", &[5, 6]);
            assert_eq!(who_holds_in(proc.root(), PORT), None);
        }

        #[test]
        fn missing_tables_give_none() {
            let proc = FakeProc::new();
            assert_eq!(who_holds_in(proc.root(), PORT), None);
        }

        #[test]
        fn unreadable_or_missing_pid_dirs_are_skipped() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[&row("00000000:1A20", "0A", 31337)]));
            // A pid dir without an fd dir (process exited mid-scan).
            fs::create_dir(proc.pid_dir(1)).unwrap();
            // An fd "dir" that cannot be listed. A plain file stands in for a
            // permission-denied dir, because chmod 000 is ignored when tests
            // run as root.
            fs::create_dir(proc.pid_dir(2)).unwrap();
            fs::write(proc.pid_dir(2).join("fd"), "").unwrap();
            // Non-pid entries must not be mistaken for processes.
            fs::create_dir_all(proc.root().join("self").join("fd")).unwrap();
            symlink("socket:[31337]", proc.root().join("self/fd/3")).unwrap();
            proc.process(3, "holder\n", b"holder\0", &[31337]);

            let holder = who_holds_in(proc.root(), PORT).expect("listener exists");
            assert_eq!(holder.pid, Some(3));
            assert_eq!(holder.name.as_deref(), Some("holder"));
        }

        #[test]
        fn invisible_owner_reports_unknown_pid() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[&row("0100007F:1A20", "0A", 808)]));
            proc.process(50, "other\n", b"other\0", &[809]);

            let holder = who_holds_in(proc.root(), PORT).expect("socket is listed");
            assert_eq!(
                holder,
                Holder {
                    pid: None,
                    name: None,
                    command_line: None,
                }
            );
        }

        #[test]
        fn missing_comm_and_empty_cmdline_become_none() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[&row("0100007F:1A20", "0A", 9)]));
            proc.process(77, "", b"", &[9]);
            fs::remove_file(proc.pid_dir(77).join("comm")).unwrap();

            let holder = who_holds_in(proc.root(), PORT).expect("listener exists");
            assert_eq!(
                holder,
                Holder {
                    pid: Some(77),
                    name: None,
                    command_line: None,
                }
            );
        }

        #[test]
        fn long_command_line_is_capped() {
            let proc = FakeProc::new();
            proc.net("tcp", &tcp_table(&[&row("0100007F:1A20", "0A", 9)]));
            let mut cmdline = b"prog\0".to_vec();
            for _ in 0..100 {
                cmdline.extend_from_slice(b"--flag\0");
            }
            proc.process(77, "prog\n", &cmdline, &[9]);

            let command_line = who_holds_in(proc.root(), PORT)
                .and_then(|h| h.command_line)
                .expect("command line present");
            assert_eq!(command_line.chars().count(), MAX_COMMAND_LINE_CHARS + 1);
            assert!(command_line.starts_with("prog --flag --flag"));
            assert!(command_line.ends_with('…'));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn real_listener_is_attributed_to_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();

        let holder = who_holds(port).expect("our own listener is visible");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.name.is_some());
        drop(listener);
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn unsupported_os_gives_none() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(who_holds(port), None);
    }
}
