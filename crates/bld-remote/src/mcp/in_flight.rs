//! The tool calls in flight across all sessions of this server, so that a stopping HTTP server
//! can let them finish (bounded) before it closes the sessions.

use tokio::sync::watch;

pub struct InFlight {
    calls: watch::Sender<usize>,
}

impl Default for InFlight {
    fn default() -> InFlight {
        InFlight {
            calls: watch::Sender::new(0),
        }
    }
}

impl InFlight {
    /// Counts a call until the guard is dropped (the call ended, or was cancelled).
    pub fn enter(&self) -> CallGuard<'_> {
        self.calls.send_modify(|calls| *calls += 1);
        CallGuard(self)
    }

    pub fn count(&self) -> usize {
        *self.calls.borrow()
    }

    /// Resolves once no call is in flight.
    pub async fn idle(&self) {
        let mut calls = self.calls.subscribe();
        // The sender lives in `self`: the channel cannot close while this borrows it.
        let _ = calls.wait_for(|calls| *calls == 0).await;
    }
}

pub struct CallGuard<'a>(&'a InFlight);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.calls.send_modify(|calls| *calls -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_call() {
        let in_flight = InFlight::default();
        in_flight.idle().await;
        let first = in_flight.enter();
        let second = in_flight.enter();
        assert_eq!(in_flight.count(), 2);
        drop(first);
        let idle = in_flight.idle();
        tokio::pin!(idle);
        assert!(
            futures_poll_once(idle.as_mut()).await.is_none(),
            "one call still runs"
        );
        drop(second);
        idle.await;
        assert_eq!(in_flight.count(), 0);
    }

    /// Polls `future` once: its output if it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
