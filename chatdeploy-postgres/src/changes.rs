//! The change feed ([`StateStore::changes`](chatdeploy_core::state::StateStore::changes)):
//! a connection of its own (outside the pool) that `LISTEN`s on the
//! schema's channel, where the `deployments` trigger of migration 2 sends
//! `{"writer": …, "id": …}` for every release inserted or updated.
//!
//! - **Others' changes only.** Each store has a random writer ID that its
//!   pooled connections set as `chatdeploy.writer`; notifications carrying
//!   this store's own ID are skipped. Writes from sessions without the
//!   setting (another tool, an operator's `psql`) reach every feed.
//! - **Bounded.** The feed holds at most [`CAPACITY`] IDs; when the engine
//!   does not keep up, newer IDs are dropped (and logged) rather than
//!   buffered without bound. A dropped ID only delays a wake: the engine
//!   polls the store as a fallback.
//! - **Reconnects.** When the connection drops (a server restart, a
//!   terminated session, a network failure), the feed reconnects with
//!   backoff (0.25 s doubling to 30 s) and listens again. Notifications sent
//!   in the gap are lost (PostgreSQL keeps none for absent listeners); the
//!   engine's polling catches up. Every 30 s the feed re-issues its
//!   `LISTEN` as a probe, so a connection that silently died is noticed.
//! - **Ends** when the receiver is dropped or the store is
//!   [closed](crate::PostgresStateStore::close).

use std::fmt;
use std::future::{Future, poll_fn};
use std::ops::ControlFlow;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chatdeploy_core::ids::DeploymentId;
use chatdeploy_core::state::ChangeFeed;
use deadpool_postgres::PoolError;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;
use tokio_postgres::{AsyncMessage, Connection};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{OpError, Target};
use crate::schema;

/// How many changed release IDs a feed holds before it drops new ones.
pub(crate) const CAPACITY: usize = 1024;
/// How often the feed re-issues `LISTEN` to check its connection.
const PING_EVERY: Duration = Duration::from_secs(30);
/// The first wait before reconnecting; it doubles up to [`LAST_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait before reconnecting.
const LAST_RETRY: Duration = Duration::from_secs(30);

/// What a store's change feeds connect with, and the store's writer ID.
pub(crate) struct Listener {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    target: Target,
    connect_timeout: Duration,
    operation_timeout: Duration,
    channel: String,
    listen: String,
    writer: String,
    closed: watch::Sender<bool>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug leaves the password out.
        f.debug_struct("Listener")
            .field("config", &self.config)
            .field("channel", &self.channel)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// The payload of the trigger's notification.
#[derive(Debug, Deserialize)]
struct Payload {
    /// `chatdeploy.writer` of the writing session; `null` when unset.
    writer: Option<String>,
    /// The release written.
    id: String,
}

/// How a feed (or one connection of it) ended.
enum End {
    /// The receiver was dropped or the store closed: stop.
    Gone,
    /// The connection failed; `listened` when it had been listening.
    Failed { error: OpError, listened: bool },
}

/// How driving the connection ended.
enum Ended {
    ReceiverGone,
    Closed,
    Error(tokio_postgres::Error),
}

impl Ended {
    fn into_end(self, listened: bool) -> End {
        match self {
            Self::ReceiverGone => End::Gone,
            Self::Closed => End::Failed {
                error: OpError::Closed,
                listened,
            },
            Self::Error(e) => End::Failed {
                error: e.into(),
                listened,
            },
        }
    }
}

impl Listener {
    /// Settings for the feeds of the store at `target` (whose pool uses
    /// `config` and `tls`), with a fresh writer ID.
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        target: &Target,
        connect_timeout: Duration,
        operation_timeout: Duration,
    ) -> Self {
        let channel = schema::change_channel(&target.schema);
        Self {
            config,
            tls,
            target: target.clone(),
            connect_timeout,
            operation_timeout,
            listen: format!("LISTEN {}", schema::quoted(&channel)),
            channel,
            writer: uuid::Uuid::new_v4().simple().to_string(),
            closed: watch::Sender::new(false),
        }
    }

    /// This store's writer ID (32 hex digits).
    pub(crate) fn writer(&self) -> &str {
        &self.writer
    }

    /// The `NOTIFY` channel.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Ends every feed of this store.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Opens a feed: returns once it listens, or with the error of its
    /// first connection.
    pub(crate) async fn start(self: &Arc<Self>) -> Result<ChangeFeed, OpError> {
        if *self.closed.borrow() {
            return Err(OpError::Pool(PoolError::Closed));
        }
        let (tx, rx) = mpsc::channel(CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(Arc::clone(self).run(tx, ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(error)) => Err(error),
            // The store was closed meanwhile.
            Err(_) => Err(OpError::Pool(PoolError::Closed)),
        }
    }

    /// The feed's task: one connection after another until the receiver
    /// is dropped or the store closed. The first connection's outcome goes
    /// to `ready`; when it fails, the task ends.
    async fn run(
        self: Arc<Self>,
        tx: mpsc::Sender<DeploymentId>,
        ready: oneshot::Sender<Result<(), OpError>>,
    ) {
        let mut ready = Some(ready);
        let mut closed = self.closed.subscribe();
        let mut gone = pin!(gone(&tx, &mut closed));
        let mut retry = FIRST_RETRY;
        loop {
            let (error, listened) = match self.session(&tx, &mut ready, gone.as_mut()).await {
                End::Gone => return,
                End::Failed { error, listened } => (error, listened),
            };
            if let Some(ready) = ready.take() {
                let _ = ready.send(Err(error));
                return;
            }
            if listened {
                retry = FIRST_RETRY;
            }
            let failure =
                error.into_failure(&self.target, self.connect_timeout, self.operation_timeout);
            tracing::warn!(
                channel = %self.channel,
                error = %failure.sentence,
                retry_in = ?retry,
                "the change feed lost its PostgreSQL connection; changes made until it is back \
                 wake no one (the engine's polling picks them up)"
            );
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = gone.as_mut() => return,
            }
            retry = retry.saturating_mul(2).min(LAST_RETRY);
        }
    }

    /// One connection: connects, listens (reporting to `ready` the first
    /// time), forwards notifications, and re-issues `LISTEN` every
    /// [`PING_EVERY`] as a probe, until something ends it.
    async fn session(
        &self,
        tx: &mpsc::Sender<DeploymentId>,
        ready: &mut Option<oneshot::Sender<Result<(), OpError>>>,
        mut gone: Pin<&mut impl Future<Output = ()>>,
    ) -> End {
        // The whole start (TCP, TLS, authentication) within the connect
        // timeout.
        let connect =
            tokio::time::timeout(self.connect_timeout, self.config.connect(self.tls.clone()));
        let connected = tokio::select! {
            connected = connect => connected,
            () = gone.as_mut() => return End::Gone,
        };
        let (client, mut connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                return End::Failed {
                    error: e.into(),
                    listened: false,
                };
            }
            Err(_) => {
                return End::Failed {
                    error: OpError::Timeout(self.connect_timeout),
                    listened: false,
                };
            }
        };
        let mut forward = Forward {
            tx,
            writer: &self.writer,
            channel: &self.channel,
            dropped: 0,
        };
        let mut driver = pin!(poll_fn(|cx| drive(&mut connection, cx, &mut forward)));
        let mut listened = false;
        // The first tick is immediate: it subscribes.
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ended = &mut driver => return ended.into_end(listened),
                () = gone.as_mut() => return End::Gone,
                _ = ping.tick() => {
                    let probe = tokio::time::timeout(
                        self.operation_timeout,
                        client.batch_execute(&self.listen),
                    );
                    let answered = tokio::select! {
                        answered = probe => answered,
                        ended = &mut driver => return ended.into_end(listened),
                    };
                    let error = match answered {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(OpError::from(e)),
                        Err(_) => Some(OpError::Timeout(self.operation_timeout)),
                    };
                    if let Some(error) = error {
                        return End::Failed { error, listened };
                    }
                    if !listened {
                        listened = true;
                        tracing::debug!(channel = %self.channel, "the change feed listens");
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Ok(()));
                        }
                    }
                }
            }
        }
    }
}

/// Completes when the receiver is dropped or the store is closed.
async fn gone(tx: &mpsc::Sender<DeploymentId>, closed: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tx.closed() => {}
        _ = closed.wait_for(|closed| *closed) => {}
    }
}

/// Drives the connection, forwarding notifications, until it ends.
fn drive<S, T>(
    connection: &mut Connection<S, T>,
    cx: &mut Context<'_>,
    forward: &mut Forward<'_>,
) -> Poll<Ended>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match connection.poll_message(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(Ended::Closed),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Ended::Error(e)),
            Poll::Ready(Some(Ok(AsyncMessage::Notification(note)))) => {
                if forward
                    .notification(note.channel(), note.payload())
                    .is_break()
                {
                    return Poll::Ready(Ended::ReceiverGone);
                }
            }
            Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                tracing::debug!(
                    severity = notice.severity(),
                    message = notice.message(),
                    "PostgreSQL notice on the change feed's connection"
                );
            }
            Poll::Ready(Some(Ok(_))) => {}
        }
    }
}

/// Turns notifications into IDs on the feed.
struct Forward<'a> {
    tx: &'a mpsc::Sender<DeploymentId>,
    writer: &'a str,
    channel: &'a str,
    /// IDs dropped because the feed was full.
    dropped: u64,
}

impl Forward<'_> {
    /// Forwards one notification unless it is this store's own or
    /// unreadable; breaks when the receiver is gone.
    fn notification(&mut self, channel: &str, payload: &str) -> ControlFlow<()> {
        if channel != self.channel {
            return ControlFlow::Continue(());
        }
        let payload: Payload = match serde_json::from_str(payload) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::debug!(
                    payload,
                    error = %e,
                    "skipping a change notification that is not chatdeploy's"
                );
                return ControlFlow::Continue(());
            }
        };
        if payload.writer.as_deref() == Some(self.writer) {
            return ControlFlow::Continue(());
        }
        match self.tx.try_send(DeploymentId::new(payload.id)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(TrySendError::Full(id)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(
                        deployment = %id,
                        dropped = self.dropped,
                        capacity = CAPACITY,
                        "the change feed is full: dropping changed release IDs (the engine's \
                         polling picks them up)"
                    );
                }
                ControlFlow::Continue(())
            }
            Err(TrySendError::Closed(_)) => ControlFlow::Break(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(tx: &mpsc::Sender<DeploymentId>) -> Forward<'_> {
        Forward {
            tx,
            writer: "own",
            channel: "chatdeploy_changes_x",
            dropped: 0,
        }
    }

    #[test]
    fn others_changes_are_forwarded_and_own_ones_skipped() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut forward = forward(&tx);
        let channel = "chatdeploy_changes_x";
        for payload in [
            r#"{"writer": "other", "id": "d-1"}"#,
            r#"{"writer": "own", "id": "d-own"}"#,
            r#"{"writer": null, "id": "d 2 \"quoted\""}"#,
            "not json",
            r#"{"id": 3}"#,
        ] {
            assert!(forward.notification(channel, payload).is_continue());
        }
        assert!(
            forward
                .notification("another_channel", r#"{"writer": null, "id": "d-x"}"#)
                .is_continue()
        );
        assert_eq!(rx.try_recv().ok(), Some(DeploymentId::new("d-1")));
        assert_eq!(
            rx.try_recv().ok(),
            Some(DeploymentId::new("d 2 \"quoted\""))
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_full_feed_drops_the_newest_and_a_dropped_receiver_stops_it() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut forward = forward(&tx);
        let channel = "chatdeploy_changes_x";
        for id in ["d-1", "d-2", "d-3"] {
            let payload = format!(r#"{{"writer": "other", "id": "{id}"}}"#);
            assert!(forward.notification(channel, &payload).is_continue());
        }
        assert_eq!(forward.dropped, 1);
        assert_eq!(rx.try_recv().ok(), Some(DeploymentId::new("d-1")));
        assert_eq!(rx.try_recv().ok(), Some(DeploymentId::new("d-2")));
        drop(rx);
        assert!(
            forward
                .notification(channel, r#"{"writer": null, "id": "d-4"}"#)
                .is_break()
        );
    }
}
