//! What the Events API listener holds on to, and for how long: timeouts per
//! connection phase, a connection limit, and the bounded backlog of events
//! handed to the engine (`crate::backlog`).

use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::error::Elapsed;

use super::EventsApiListener;
use crate::backlog::{DEFAULT_MAX_IN_FLIGHT, permits};

/// How long a client may take to send a request's head, from its first
/// byte.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body, from the end of its
/// head.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay open without a request in progress. Longer
/// than the 60-second idle timeout load balancers usually default to, so the
/// balancer, not the bot, closes idle connections (the other way round, a
/// request can race the close).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How many connections [`EventsApiListener::serve`] keeps open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a button click or slash command waits for room in a full
/// backlog before it is refused: under Slack's three-second deadline.
pub const DEFAULT_INTERACTIVE_WAIT: Duration = Duration::from_secs(2);

/// The listener's limits; see the `with_*` methods of [`EventsApiListener`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) body_limit: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) interactive_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_limit: super::DEFAULT_BODY_LIMIT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            interactive_wait: DEFAULT_INTERACTIVE_WAIT,
        }
    }
}

impl EventsApiListener {
    /// How long a client may take to send a request's head (request line
    /// and headers), counted from its first byte; then the connection is
    /// closed (within a quarter of the shorter of this and the idle timeout
    /// past it: the connections are looked at that often, which costs their
    /// requests nothing). Default [`DEFAULT_HEADER_TIMEOUT`]. Applies to
    /// [`serve`](Self::serve); behind [`router`](Self::router) the embedding
    /// server reads the head.
    #[must_use]
    pub fn with_header_timeout(self, timeout: Duration) -> Self {
        self.rebuild(|inner| inner.limits.header_timeout = timeout)
    }

    /// How long a client may take to send a request's body after its head;
    /// then it is answered 408 and the connection closed. Default
    /// [`DEFAULT_BODY_TIMEOUT`].
    #[must_use]
    pub fn with_body_timeout(self, timeout: Duration) -> Self {
        self.rebuild(|inner| inner.limits.body_timeout = timeout)
    }

    /// How long a connection may stay open with no request in progress
    /// (before its first request, or since its last answer); then it is
    /// closed (as promptly as for the header timeout). Default
    /// [`DEFAULT_IDLE_TIMEOUT`]; keep it above the idle
    /// timeout of a load balancer in front. Applies to [`serve`](Self::serve).
    #[must_use]
    pub fn with_idle_timeout(self, timeout: Duration) -> Self {
        self.rebuild(|inner| inner.limits.idle_timeout = timeout)
    }

    /// How many connections [`serve`](Self::serve) keeps open at once (at
    /// least one). Beyond it, a new connection is accepted and closed at
    /// once, so the client (or a load balancer) learns right away and tries
    /// again, while the open connections keep being served. Default
    /// [`DEFAULT_MAX_CONNECTIONS`]; keep it under the process's file
    /// descriptor limit.
    #[must_use]
    pub fn with_max_connections(self, connections: usize) -> Self {
        self.rebuild(|inner| inner.limits.max_connections = permits(connections))
    }

    /// How many events may be with the engine at once (at least one).
    /// Beyond it, an Events API callback is answered 503 and Slack delivers
    /// it again later (with backoff, a few times); it is not recorded
    /// anywhere before that, so the redelivery is handled like a first
    /// delivery. A button click or slash command first waits for room for up
    /// to [`with_interactive_wait`](Self::with_interactive_wait), since Slack
    /// does not redeliver those: a 503 shows the person an error and they
    /// click or type again. Default [`DEFAULT_MAX_IN_FLIGHT`].
    #[must_use]
    pub fn with_max_in_flight(self, events: usize) -> Self {
        self.rebuild(|inner| inner.limits.max_in_flight = permits(events))
    }

    /// How long a button click or slash command waits for room in a full
    /// backlog before it is answered 503; waiting ones go first when room
    /// frees up. Default [`DEFAULT_INTERACTIVE_WAIT`]; keep it well under
    /// Slack's three-second deadline, which also covers reading the request.
    #[must_use]
    pub fn with_interactive_wait(self, wait: Duration) -> Self {
        self.rebuild(|inner| inner.limits.interactive_wait = wait)
    }
}

/// `read` if it completes within `limit`. A body has usually arrived with
/// its head, so it is tried once first: only one still on its way costs a
/// timer.
pub(crate) async fn within<F: Future>(limit: Duration, read: F) -> Result<F::Output, Elapsed> {
    let mut read = std::pin::pin!(read);
    match read.as_mut().now_or_never() {
        Some(done) => Ok(done),
        None => tokio::time::timeout(limit, read).await,
    }
}
