//! The behaviour every [`AuditSink`] must have, as reusable checks: run
//! [`run_all`] against a new sink implementation.
//!
//! [`AuditSink`] has no read method, so the checks take `read`, an async
//! closure returning every record the sink holds, oldest first (e.g.
//! `async || sink.events().await.unwrap()`, or parsing a file). The sink
//! need not start empty: the checks compare what a read returns before
//! and after their writes, and every record they write has a fresh ID.
//!
//! The checks panic on the first violation (they are test code).
//!
//! Sinks that keep nothing to read back are outside this contract:
//! [`TracingAuditSink`](super::TracingAuditSink) (a log line per call,
//! never durable on its own: pair it with a sink that is) and the
//! benchmarks' `NullAuditSink`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use chrono::{Duration, TimeZone, Utc};
use uuid::Uuid;

use super::{AuditAction, AuditEvent, AuditSink};
use crate::backend::Signal;
use crate::ids::{DeploymentId, EventId, ExecutionId, UserId};

/// A record with every field set, with `id` and `action`, its time with
/// nanoseconds, and text that needs escaping in JSON and SQL (quotes,
/// backslashes, a newline, non-ASCII).
pub fn full_event(id: &str, action: AuditAction) -> AuditEvent {
    let at =
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + Duration::nanoseconds(123_456_789);
    let mut event = AuditEvent::identified_at(id, at, action, Some(UserId::new("U0CONTRACT")));
    event.command = Some("deploy app r-1.2.3 to production".into());
    event.service = Some("app".into());
    event.version = Some("r-1.2.3".into());
    event.environment = Some("production".into());
    event.deployment = Some(DeploymentId::new(format!("d-{id}")));
    event.execution = Some(ExecutionId::new("4f6c6a52-0b1d-4e8e-9d3a-6f1f8d2b7c10"));
    event.channel = Some("C0CONTRACT".into());
    event.thread = Some("1700000000.000100".into());
    event.source_event = Some(EventId::new(format!("Ev-{id}")));
    event.decision = Some(Signal::Reject);
    event.principal = Some("arn:aws:iam::123456789012:user/ops".into());
    event.reason =
        Some("quote \" backslash \\ newline\n tab\t emoji 🚀 accents éü 'single'".into());
    event
}

/// Runs every check below: the first two against `sink` (read back with
/// `read`), the last against `broken`, an instance of the same sink that
/// cannot write (its file unwritable, its database gone, …).
pub async fn run_all<S, R, B>(sink: &S, read: R, broken: &B)
where
    S: AuditSink + ?Sized,
    R: AsyncFn() -> Vec<AuditEvent>,
    B: AuditSink + ?Sized,
{
    records_come_back_in_order_intact(sink, &read).await;
    a_repeated_id_is_kept_once(sink, &read).await;
    a_broken_sink_refuses_writes(broken).await;
}

/// Records come back in the order they were written (not by time, not by
/// ID), with every field as written.
pub async fn records_come_back_in_order_intact<S, R>(sink: &S, read: R)
where
    S: AuditSink + ?Sized,
    R: AsyncFn() -> Vec<AuditEvent>,
{
    let run = Uuid::new_v4().simple().to_string();
    let first = full_event(&format!("{run}-c"), AuditAction::Requested);
    // Written second, but earlier in time and first by ID.
    let mut second = full_event(&format!("{run}-a"), AuditAction::Started);
    second.at = first.at - Duration::minutes(5);
    let mut third =
        AuditEvent::identified_at(format!("{run}-b"), first.at, AuditAction::Locked, None);
    third.service = Some("app".into());
    let before = read().await;
    for event in [&first, &second, &third] {
        sink.record(event)
            .await
            .unwrap_or_else(|e| panic!("recording {}: {e:?}", event.id));
    }
    let after = read().await;
    assert!(
        after.starts_with(&before),
        "recording must not change or drop earlier records"
    );
    assert_eq!(
        &after[before.len()..],
        [first, second, third],
        "the records must come back in the order written, intact"
    );
}

/// A record whose ID the sink already holds is accepted (`Ok`) without a
/// second copy; the first one written is the one kept.
pub async fn a_repeated_id_is_kept_once<S, R>(sink: &S, read: R)
where
    S: AuditSink + ?Sized,
    R: AsyncFn() -> Vec<AuditEvent>,
{
    let id = format!("{}:started", Uuid::new_v4().simple());
    let event = full_event(&id, AuditAction::Started);
    let before = read().await;
    sink.record(&event).await.expect("the first copy");
    sink.record(&event)
        .await
        .expect("a second copy is accepted, not refused");
    let replayed = event.clone().with_reason("replayed after a restart");
    sink.record(&replayed)
        .await
        .expect("a copy with other content is accepted too");
    let after = read().await;
    assert_eq!(
        &after[before.len()..],
        [event],
        "one record per ID, the first one written"
    );
}

/// A write to a sink that cannot write is an `Err`, never a silent `Ok`.
pub async fn a_broken_sink_refuses_writes<B: AuditSink + ?Sized>(broken: &B) {
    let event = full_event(
        &format!("{}-broken", Uuid::new_v4().simple()),
        AuditAction::Requested,
    );
    let result = broken.record(&event).await;
    assert!(
        result.is_err(),
        "a sink that cannot write must return an error"
    );
}
