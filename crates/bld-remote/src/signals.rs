//! The signals that ask `bld-remote` to stop what it supervises: Ctrl-C (SIGINT) and SIGTERM.
//!
//! Listen once, early, and keep the listener: once a handler is installed the default action
//! (exit) is gone, so a signal arriving while nobody polls a listener created later would be
//! lost and `bld-remote` would not stop.

pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))]
    listening: bool,
}

impl StopSignals {
    pub fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals { listening: true }
    }

    /// A listener that never fires: for work started where another part of the program owns
    /// the stop signals (the MCP server starting a Blender).
    pub fn none() -> StopSignals {
        StopSignals {
            #[cfg(unix)]
            interrupt: None,
            #[cfg(unix)]
            terminate: None,
            #[cfg(not(unix))]
            listening: false,
        }
    }

    /// Resolves when SIGINT or SIGTERM arrives (also one that arrived since `listen`).
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            let interrupt = async {
                match self.interrupt.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match self.terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => "SIGINT",
                _ = terminate => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            if !self.listening {
                std::future::pending::<()>().await;
            }
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
