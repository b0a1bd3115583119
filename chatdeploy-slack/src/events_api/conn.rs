//! One served connection's timeouts: idle (no request in progress) and
//! header (from a request's first byte to its complete head).
//!
//! hyper's own `header_read_timeout` starts whenever the connection waits
//! for a head, idle keep-alive time included, so it cannot tell a slow
//! client from a quiet one: with it, a keep-alive connection could be idle
//! no longer than a head may take to arrive. Here the stream records when a
//! request starts, the service when it is in progress or answered, and a
//! watchdog beside the connection closes it when its phase's deadline
//! passes. The body's own timeout is in the service (an answer, 408, is
//! still possible then).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Where a connection is, and since when. Written and read by the one task
/// that drives the connection, hence the relaxed atomics (they are only
/// atomics to be `Sync`).
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    phase: AtomicU8,
    /// Nanoseconds from `epoch` to the start of the phase.
    since: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
        })
    }

    fn enter(&self, phase: u8) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(nanos, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// Bytes arrived: an idle connection starts receiving a head.
    fn on_read(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.enter(HEAD);
        }
    }

    /// The head is in: the service has the request (its body has its own
    /// timeout there).
    pub(super) fn request_started(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// The request is answered: the connection is idle again.
    pub(super) fn request_answered(&self) {
        self.enter(IDLE);
    }

    /// When the current phase runs out; `None` while a request is in the
    /// service.
    fn deadline(&self, idle: Duration, header: Duration) -> Option<(Instant, &'static str)> {
        let since = self.epoch + Duration::from_nanos(self.since.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            IDLE => Some((since + idle, "idle")),
            HEAD => Some((since + header, "header")),
            _ => None,
        }
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

/// Drives `connection` until it ends, or until its idle or header deadline
/// passes; then drops it, which closes the socket.
pub(super) async fn drive<C, E>(
    connection: C,
    activity: &Activity,
    idle: Duration,
    header: Duration,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut connection = std::pin::pin!(connection);
    // The watchdog wakes at the earliest moment the connection could be
    // due, and looks again: nothing is reset per request.
    let recheck = idle.min(header);
    let watchdog = tokio::time::sleep(recheck);
    let mut watchdog = std::pin::pin!(watchdog);
    loop {
        tokio::select! {
            biased;
            ended = &mut connection => {
                // A peer closing its connection is not the listener's error.
                if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = &mut watchdog => {
                let now = Instant::now();
                match activity.deadline(idle, header) {
                    Some((due, phase)) if due <= now => {
                        tracing::debug!(phase, "closing a connection past its timeout");
                        return;
                    }
                    Some((due, _)) => watchdog.as_mut().reset(due),
                    None => watchdog.as_mut().reset(now + recheck),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn phases_have_their_own_deadlines() {
        let activity = Activity::new();
        let (idle, header) = (Duration::from_secs(60), Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(
            activity.deadline(idle, header),
            Some((start + idle, "idle"))
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        activity.on_read();
        let head = Instant::now();
        assert_eq!(
            activity.deadline(idle, header),
            Some((head + header, "header"))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.on_read();
        assert_eq!(
            activity.deadline(idle, header),
            Some((head + header, "header")),
            "more bytes of the same head do not extend it"
        );
        activity.request_started();
        assert_eq!(activity.deadline(idle, header), None);
        activity.request_answered();
        assert_eq!(
            activity.deadline(idle, header),
            Some((Instant::now() + idle, "idle"))
        );
    }
}
