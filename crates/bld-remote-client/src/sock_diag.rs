//! Listening TCP sockets from the Linux kernel's sock_diag netlink interface (what `ss -ltn`
//! uses): the kernel walks only its listening sockets, so the answer takes tens of
//! microseconds. Reading `/proc/net/tcp` walks the whole connection hash table and took
//! milliseconds on the machines this runs on; it stays the fallback (`proc_net`) where netlink
//! is not available.

use crate::proc_net::Listener;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: libc::c_int = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
const HEADER: usize = 16; // struct nlmsghdr
const REQUEST: usize = 56; // struct inet_diag_req_v2
const MESSAGE: usize = 72; // struct inet_diag_msg

/// Every listening TCP socket, IPv4 and IPv6 (two dumps on one netlink socket).
pub fn all_listeners() -> io::Result<Vec<Listener>> {
    let socket = open()?;
    let mut all = dump(&socket, libc::AF_INET as u8)?;
    all.extend(dump(&socket, libc::AF_INET6 as u8)?);
    Ok(all)
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dump(socket: &OwnedFd, family: u8) -> io::Result<Vec<Listener>> {
    let request = request(family);
    // SAFETY: the buffer is valid for its length; the kernel is the destination (no address).
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut listeners = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: the buffer is valid and writable for its length.
        let got = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        if got == 0 {
            return Ok(listeners);
        }
        if parse(&buf[..got as usize], &mut listeners)? {
            return Ok(listeners);
        }
    }
}

/// An `SOCK_DIAG_BY_FAMILY` dump request for TCP sockets in state LISTEN.
fn request(family: u8) -> Vec<u8> {
    let mut message = Vec::with_capacity(HEADER + REQUEST);
    message.extend_from_slice(&((HEADER + REQUEST) as u32).to_ne_bytes());
    message.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    message.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    message.push(family);
    message.push(libc::IPPROTO_TCP as u8);
    message.push(0); // no extensions
    message.push(0);
    message.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    message.resize(HEADER + REQUEST, 0); // the socket id: all zero, no filter
    message
}

/// Adds the listeners in one datagram; true once the dump is done.
fn parse(data: &[u8], listeners: &mut Vec<Listener>) -> io::Result<bool> {
    let mut at = 0;
    while at + HEADER <= data.len() {
        let u32_at = |i: usize| u32::from_ne_bytes(data[i..i + 4].try_into().expect("4 bytes"));
        let length = u32_at(at) as usize;
        let kind = u16::from_ne_bytes([data[at + 4], data[at + 5]]);
        if length < HEADER || at + length > data.len() {
            return Err(io::Error::other("malformed netlink message"));
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = i32::from_ne_bytes(data[at + 16..at + 20].try_into().expect("4 bytes"));
                return Err(io::Error::from_raw_os_error(-errno));
            }
            SOCK_DIAG_BY_FAMILY if length >= HEADER + MESSAGE => {
                let body = &data[at + HEADER..at + length];
                if let Some(listener) = listener(body) {
                    listeners.push(listener);
                }
            }
            _ => {}
        }
        at += (length + 3) & !3;
    }
    Ok(false)
}

/// One `inet_diag_msg`: family, state, then the socket id (ports big-endian, addresses in
/// network order), then expires, queues, uid, inode.
fn listener(body: &[u8]) -> Option<Listener> {
    let port = u16::from_be_bytes([body[4], body[5]]);
    let address = &body[8..24];
    let ip = match i32::from(body[0]) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(
            address[0], address[1], address[2], address[3],
        )),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(address).ok()?)),
        _ => return None,
    };
    let word = |i: usize| u32::from_ne_bytes(body[i..i + 4].try_into().expect("4 bytes"));
    Some(Listener {
        local: SocketAddr::new(ip, port),
        uid: word(64),
        inode: u64::from(word(68)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_listeners_are_found_with_their_owner() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let found = all_listeners().unwrap();
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        for listener in [&v4, &v6] {
            let addr = listener.local_addr().unwrap();
            let row = found
                .iter()
                .find(|l| l.local == addr)
                .unwrap_or_else(|| panic!("{addr} not in {found:?}"));
            assert_eq!(row.uid, me);
            assert!(row.inode > 0);
        }
        // The same answer as /proc/net/tcp (the fallback).
        let from_proc = crate::proc_net::all_listeners(std::path::Path::new("/proc"));
        for listener in [&v4, &v6] {
            let addr = listener.local_addr().unwrap();
            let a = found.iter().find(|l| l.local == addr).unwrap();
            let b = from_proc.iter().find(|l| l.local == addr).unwrap();
            assert_eq!((a.uid, a.inode), (b.uid, b.inode));
        }
    }

    #[test]
    fn a_truncated_or_failed_answer_is_an_error_not_a_guess() {
        let mut listeners = Vec::new();
        let mut error = vec![0u8; 20];
        error[..4].copy_from_slice(&20u32.to_ne_bytes());
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            parse(&error, &mut listeners).unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        let mut short = vec![0u8; 16];
        short[..4].copy_from_slice(&400u32.to_ne_bytes());
        assert!(parse(&short, &mut listeners).is_err());
    }
}
