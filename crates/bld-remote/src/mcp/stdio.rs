//! stdin and stdout of the MCP session, read and written by the runtime's own event loop when
//! they are a pipe or a socket (how MCP clients start servers: pipes from most, a socketpair
//! from Node's libuv).
//!
//! tokio's `stdin()`/`stdout()` hand every read and write to its blocking thread pool. Profiled
//! with perf on a `tools/call execute_code` loop, those thread hand-offs (futex wake-ups in
//! `blocking::pool`, eventfd writes back to the runtime) were most of the MCP server's own cost
//! per call. A pipe or socket in non-blocking mode is polled like the TCP connection to Blender
//! instead. Anything else (a terminal, a file) keeps tokio's stdio.

use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// The session's transport: (stdin, stdout).
pub fn transport() -> (Reader, Writer) {
    (reader(), writer())
}

#[cfg(unix)]
fn reader() -> Reader {
    use std::os::fd::AsFd;
    match io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(unix::async_reader)
    {
        Ok(reader) => reader,
        Err(err) => {
            tracing::debug!(%err, "stdin is read through tokio's blocking stdin");
            Box::new(tokio::io::stdin())
        }
    }
}

#[cfg(unix)]
fn writer() -> Writer {
    use std::os::fd::AsFd;
    match io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(unix::async_writer)
    {
        Ok(writer) => writer,
        Err(err) => {
            tracing::debug!(%err, "stdout is written through tokio's blocking stdout");
            Box::new(tokio::io::stdout())
        }
    }
}

#[cfg(not(unix))]
fn reader() -> Reader {
    Box::new(tokio::io::stdin())
}

#[cfg(not(unix))]
fn writer() -> Writer {
    Box::new(tokio::io::stdout())
}

#[cfg(unix)]
mod unix {
    use super::{Reader, Writer};
    use std::fs::File;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileTypeExt;
    use tokio::net::unix::pipe;

    enum Kind {
        Pipe(File),
        Socket(tokio::net::UnixStream),
    }

    /// What `fd` is, made non-blocking and registered with the runtime; an error for anything
    /// the event loop cannot poll. (Non-blocking mode belongs to the open file description,
    /// which for a pipe or socketpair made for this process is this process's alone.)
    fn classify(fd: OwnedFd) -> io::Result<Kind> {
        let file = File::from(fd);
        let kind = file.metadata()?.file_type();
        if kind.is_fifo() {
            Ok(Kind::Pipe(file))
        } else if kind.is_socket() {
            let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
            stream.set_nonblocking(true)?;
            Ok(Kind::Socket(tokio::net::UnixStream::from_std(stream)?))
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "not a pipe or a socket",
            ))
        }
    }

    pub fn async_reader(fd: OwnedFd) -> io::Result<Reader> {
        Ok(match classify(fd)? {
            Kind::Pipe(file) => Box::new(pipe::Receiver::from_file(file)?),
            Kind::Socket(stream) => Box::new(stream),
        })
    }

    pub fn async_writer(fd: OwnedFd) -> io::Result<Writer> {
        Ok(match classify(fd)? {
            Kind::Pipe(file) => Box::new(pipe::Sender::from_file(file)?),
            Kind::Socket(stream) => Box::new(stream),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::unix::{async_reader, async_writer};
    use std::io::{Read, Write};
    use std::os::fd::OwnedFd;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn os_pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes; both are owned below.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: fresh descriptors from pipe(), owned by nothing else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[tokio::test]
    async fn a_pipe_is_read_and_written_by_the_event_loop() {
        let (read_end, write_end) = os_pipe();
        let mut reader = async_reader(read_end).unwrap();
        let mut writer = async_writer(write_end).unwrap();
        writer.write_all(b"{\"jsonrpc\":\"2.0\"}\n").await.unwrap();
        writer.flush().await.unwrap();
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"{\"jsonrpc\":\"2.0\"}\n");
        drop(writer);
        assert_eq!(
            reader.read(&mut buf).await.unwrap(),
            0,
            "EOF once the writer is gone"
        );
    }

    #[tokio::test]
    async fn a_socketpair_works_both_ways() {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut reader = async_reader(OwnedFd::from(ours.try_clone().unwrap())).unwrap();
        let mut writer = async_writer(OwnedFd::from(ours)).unwrap();
        theirs.write_all(b"ping\n").unwrap();
        let mut buf = [0u8; 16];
        let n = reader.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping\n");
        writer.write_all(b"pong\n").await.unwrap();
        writer.flush().await.unwrap();
        let mut back = [0u8; 5];
        theirs.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"pong\n");
    }

    #[tokio::test]
    async fn a_regular_file_is_left_to_tokio_stdio() {
        let file = tempfile::tempfile().unwrap();
        let err = match async_reader(OwnedFd::from(file)) {
            Ok(_) => panic!("a regular file must not be polled"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    }
}
