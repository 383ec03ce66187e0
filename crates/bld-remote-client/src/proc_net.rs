//! Listening TCP sockets from Linux's `/proc/net/tcp` and `/proc/net/tcp6`: address, owner uid
//! and inode. The client checks, before it sends anything, that the socket it reached on a
//! loopback port belongs to this user; `bld-remote` names the process holding a port with it.
//!
//! Each table is a header line, then rows such as
//! `0: 0100007F:1A20 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 12345 ...`
//! (columns: sl, local_address, rem_address, st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid,
//! timeout, inode). Addresses are hex in the kernel's byte order: each 32-bit word of the address
//! is printed as a host-order integer, the port most significant digit first. Rows that do not
//! parse are skipped: a partial answer beats none.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// `/proc/net/tcp` writes socket states as hex numbers; `0A` is `TCP_LISTEN`.
const TCP_STATE_LISTEN: &str = "0A";

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub local: SocketAddr,
    pub uid: u32,
    pub inode: u64,
}

/// The listening sockets in the text of one table.
pub fn listeners(table: &str) -> Vec<Listener> {
    table.lines().skip(1).filter_map(parse_row).collect()
}

fn parse_row(line: &str) -> Option<Listener> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 || !fields[0].ends_with(':') || fields[3] != TCP_STATE_LISTEN {
        return None;
    }
    Some(Listener {
        local: parse_address(fields[1])?,
        uid: fields[7].parse().ok()?,
        inode: fields[9].parse().ok()?,
    })
}

fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    if port.len() != 4 || !address.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Every listening socket on this machine: from netlink (`sock_diag`, fast) where it answers,
/// else from the tables under `/proc`.
pub fn listening_sockets() -> Vec<Listener> {
    #[cfg(target_os = "linux")]
    if let Ok(listeners) = crate::sock_diag::all_listeners() {
        return listeners;
    }
    all_listeners(Path::new("/proc"))
}

/// Every listening socket in both tables under `proc_root` (`/proc`); a missing table (IPv6
/// disabled, not Linux) contributes nothing.
pub fn all_listeners(proc_root: &Path) -> Vec<Listener> {
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(proc_root.join("net").join(table)).ok())
        .flat_map(|text| listeners(&text))
        .collect()
}

/// The listening sockets a connection to `peer` may have reached: the same port on the same
/// address, or on the wildcard address of either family (an IPv6 wildcard socket also takes
/// IPv4 connections unless it is v6-only, which the tables do not say).
pub fn serving(listeners: &[Listener], peer: SocketAddr) -> Vec<Listener> {
    let peer_ip = unmapped(peer.ip());
    let mut found: Vec<Listener> = listeners
        .iter()
        .filter(|l| l.local.port() == peer.port())
        .filter(|l| {
            let ip = unmapped(l.local.ip());
            ip == peer_ip || ip.is_unspecified()
        })
        .copied()
        .collect();
    // A table read while sockets come and go may list one socket twice.
    found.sort_by_key(|l| l.inode);
    found.dedup_by_key(|l| l.inode);
    found
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[String]) -> String {
        std::iter::once("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode".to_owned())
            .chain(rows.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn row(local: &str, state: &str, uid: u32, inode: u64) -> String {
        let remote = if local.len() > 13 {
            "00000000000000000000000000000000:0000"
        } else {
            "00000000:0000"
        };
        format!(
            "   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000  {uid}        0 {inode} 1 0000000000000000 100 0 0 10 0"
        )
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn addresses_owners_and_inodes_are_read() {
        let text = table(&[
            row("0100007F:1A20", "0A", 1000, 11),
            row("00000000:1A21", "0A", 0, 12),
            row("0100007F:1A22", "01", 1000, 13), // established: not a listener
            row("00000000000000000000000001000000:1A20", "0A", 1001, 14),
            row("0000000000000000FFFF00000100007F:1A23", "0A", 7, 15),
            "garbage".to_owned(),
            row("0100007F:ZZZZ", "0A", 1, 16),
        ]);
        let found = listeners(&text);
        let parsed: Vec<(String, u32, u64)> = found
            .iter()
            .map(|l| (l.local.to_string(), l.uid, l.inode))
            .collect();
        assert_eq!(
            parsed,
            [
                ("127.0.0.1:6688".to_owned(), 1000, 11),
                ("0.0.0.0:6689".to_owned(), 0, 12),
                ("[::1]:6688".to_owned(), 1001, 14),
                ("[::ffff:127.0.0.1]:6691".to_owned(), 7, 15),
            ]
        );
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        let uids =
            |peer: &str| -> Vec<u32> { serving(&found, at(peer)).iter().map(|l| l.uid).collect() };
        assert_eq!(uids("127.0.0.1:6688"), [1000], "[::1] is another listener");
        assert_eq!(uids("[::1]:6688"), [1001]);
        assert_eq!(
            uids("127.0.0.1:6689"),
            [0],
            "a wildcard listener serves every address"
        );
        assert_eq!(
            uids("127.0.0.1:6691"),
            [7],
            "an IPv4-mapped listener serves IPv4"
        );
        assert!(uids("127.0.0.1:6690").is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_listener_is_found_with_this_process_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let found = serving(&all_listeners(Path::new("/proc")), addr);
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        assert_eq!(found.iter().map(|l| l.uid).collect::<Vec<_>>(), [me]);
    }
}
