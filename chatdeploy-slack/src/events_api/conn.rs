//! One served connection's timeouts: idle (no request in progress) and
//! header (from a request's first byte to its complete head).
//!
//! hyper's own `header_read_timeout` starts whenever the connection waits
//! for a head, idle keep-alive time included, so it cannot tell a slow
//! client from a quiet one: with it, a keep-alive connection could be idle
//! no longer than a head may take to arrive. Here the stream notes when a
//! request starts, the service when it is in progress and when answered,
//! and a watchdog task beside the connection's task aborts that task (which
//! closes the socket) once a phase has lasted too long. The body's own
//! timeout is in the service (an answer, 408, is still possible then).
//!
//! Per request this costs two stores and no clock reads or timers: the
//! watchdog looks every quarter of the shorter timeout and times a phase
//! from when it first saw it, so a connection is closed within a quarter of
//! its timeout past it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const IDLE: u64 = 0;
const HEAD: u64 = 1;
const BUSY: u64 = 2;
const PHASE: u64 = 0b11;

/// Where a connection is: its phase in the low two bits, above them a count
/// of phase changes, so that the watchdog sees every change even when a
/// phase comes back.
#[derive(Debug, Default)]
pub(super) struct Activity {
    state: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Only the connection's own task changes the state, so a load and a
    /// store need no read-modify-write.
    fn enter(&self, phase: u64) {
        let changes = self.state.load(Ordering::Relaxed) | PHASE;
        self.state
            .store(changes.wrapping_add(1) | phase, Ordering::Release);
    }

    /// Bytes arrived: an idle connection starts receiving a head.
    fn on_read(&self) {
        if self.state.load(Ordering::Relaxed) & PHASE == IDLE {
            self.enter(HEAD);
        }
    }

    /// The head is in: the service has the request (its body has its own
    /// timeout there).
    pub(super) fn request_started(&self) {
        self.enter(BUSY);
    }

    /// The request is answered: the connection is idle again.
    pub(super) fn request_answered(&self) {
        self.enter(IDLE);
    }

    fn snapshot(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }
}

/// A stream that tells its [`Activity`] when bytes arrive.
#[derive(Debug)]
pub(super) struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub(super) fn new(stream: S, activity: Arc<Activity>) -> Self {
        Self { stream, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Times the phases of the connection served by `task`; aborts the task
/// (dropping the connection, which closes the socket) when the connection
/// has been idle for `idle` or receiving one head for `header`. Returns
/// when the task ends.
pub(super) async fn watch(
    mut task: JoinHandle<()>,
    activity: Arc<Activity>,
    idle: Duration,
    header: Duration,
) {
    let tick = (idle.min(header) / 4).max(Duration::from_millis(1));
    let mut seen = activity.snapshot();
    let mut since = Instant::now();
    let mut ticks = tokio::time::interval_at(since + tick, tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Ended on its own (or panicked: hyper's, not ours to report).
            _ = &mut task => return,
            now = ticks.tick() => {
                let state = activity.snapshot();
                if state != seen {
                    (seen, since) = (state, now);
                    continue;
                }
                let (limit, phase) = match state & PHASE {
                    IDLE => (idle, "idle"),
                    HEAD => (header, "header"),
                    _ => continue,
                };
                if now.duration_since(since) >= limit {
                    tracing::debug!(phase, "closing a connection past its timeout");
                    task.abort();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_change_is_seen_even_when_the_phase_comes_back() {
        let activity = Activity::new();
        let idle = activity.snapshot();
        assert_eq!(idle & PHASE, IDLE);
        activity.on_read();
        let head = activity.snapshot();
        assert_eq!(head & PHASE, HEAD);
        activity.on_read();
        assert_eq!(activity.snapshot(), head, "more of the same head");
        activity.request_started();
        assert_eq!(activity.snapshot() & PHASE, BUSY);
        activity.request_answered();
        let idle_again = activity.snapshot();
        assert_eq!(idle_again & PHASE, IDLE);
        assert_ne!(idle_again, idle, "idle again is a change");
    }

    async fn watched(idle: Duration, header: Duration) -> (Arc<Activity>, JoinHandle<()>) {
        let activity = Activity::new();
        let task = tokio::spawn(std::future::pending::<()>());
        let watchdog = tokio::spawn(watch(task, Arc::clone(&activity), idle, header));
        (activity, watchdog)
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
        let (idle, header) = (Duration::from_secs(60), Duration::from_secs(10));
        let (_activity, watchdog) = watched(idle, header).await;
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert!(
            !watchdog.is_finished(),
            "idle for less than the idle timeout"
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            watchdog.is_finished(),
            "closed within a quarter of a timeout past it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_is_timed_from_its_first_byte_and_a_request_not_at_all() {
        let (idle, header) = (Duration::from_secs(60), Duration::from_secs(10));
        let (activity, watchdog) = watched(idle, header).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.on_read();
        tokio::time::sleep(Duration::from_secs(9)).await;
        activity.on_read();
        assert!(!watchdog.is_finished());
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            watchdog.is_finished(),
            "more bytes of one head do not extend it"
        );

        let (activity, watchdog) = watched(idle, header).await;
        activity.on_read();
        activity.request_started();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watchdog.is_finished(), "the body has its own timeout");
        activity.request_answered();
        tokio::time::sleep(Duration::from_secs(66)).await;
        assert!(watchdog.is_finished(), "then idle again");
    }
}
