//! The engine's metrics, through a recorder that keeps what it is given:
//! each finished release counted once with labels from the catalog, each
//! approval wait observed once, the in-flight gauge back to zero, and a
//! redelivered event counted as deduplicated.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use chatdeploy_core::chat::{ButtonAction, ChatEvent, Handled};
use chatdeploy_core::metrics as m;
use chatdeploy_core::state::Stage;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{ALICE, BOB, CAROL, Harness, released};

type Entry = (
    metrics_util::CompositeKey,
    Option<::metrics::Unit>,
    Option<::metrics::SharedString>,
    DebugValue,
);

/// The value of `name` with exactly `labels`, if recorded.
fn value<'a>(snapshot: &'a [Entry], name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    snapshot.iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let mut got: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
        let mut want = labels.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        (key.name() == name && got == want).then_some(value)
    })
}

fn names(snapshot: &[Entry]) -> Vec<String> {
    snapshot
        .iter()
        .map(|(key, _, _, value)| format!("{:?} = {value:?}", key.key()))
        .collect()
}

// One test: the recorder is the process's global one.
#[tokio::test(start_paused = true)]
async fn releases_waits_and_repeats_are_counted_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let h = Harness::new();

    // app (approval in its document) to staging: approved.
    let app = released(h.say(ALICE, "deploy app r-99.1.0 to staging").await);
    h.settle().await;
    assert_eq!(
        h.click(BOB, ButtonAction::Approve, &app).await,
        Handled::Accepted
    );
    h.settle().await;
    h.wait(Duration::from_secs(60)).await;
    assert_eq!(h.record(&app).await.stage, Stage::Succeeded);

    // ui (approval before the start): rejected.
    let ui = released(h.say(ALICE, "deploy ui r-99.1.0").await);
    h.settle().await;
    h.say(CAROL, &format!("reject {ui} not today")).await;
    h.wait(Duration::from_secs(60)).await;
    assert_eq!(h.record(&ui).await.stage, Stage::Rejected);

    // A redelivered event.
    let event = ChatEvent::command("EvTwice", ALICE, "C0DEPLOY", "status");
    h.engine.handle(event.clone()).await;
    assert_eq!(h.engine.handle(event).await, Handled::Duplicate);
    while h.engine.supervised() > 0 {
        h.wait(Duration::from_secs(1)).await;
    }
    tokio::task::yield_now().await;

    let snapshot = snapshotter.snapshot().into_vec();
    let all = names(&snapshot);
    let app_labels = [("service", "app"), ("environment", "staging")];
    assert_eq!(
        value(
            &snapshot,
            m::RELEASES,
            &[app_labels[0], app_labels[1], ("outcome", "succeeded")]
        ),
        Some(&DebugValue::Counter(1)),
        "{all:#?}"
    );
    assert_eq!(
        value(
            &snapshot,
            m::RELEASES,
            &[
                ("service", "ui"),
                ("environment", "production"),
                ("outcome", "rejected")
            ]
        ),
        Some(&DebugValue::Counter(1)),
        "{all:#?}"
    );
    let observations = |labels: &[(&str, &str)]| match value(&snapshot, m::APPROVAL_WAIT, labels) {
        Some(DebugValue::Histogram(seen)) => seen.len(),
        other => panic!("{labels:?}: {other:?} in {all:#?}"),
    };
    assert_eq!(
        observations(&[app_labels[0], app_labels[1], ("decision", "approved")]),
        1
    );
    assert_eq!(
        observations(&[
            ("service", "ui"),
            ("environment", "production"),
            ("decision", "rejected")
        ]),
        1
    );
    match value(
        &snapshot,
        m::RELEASE_DURATION,
        &[app_labels[0], app_labels[1], ("outcome", "succeeded")],
    ) {
        Some(DebugValue::Histogram(seen)) => assert_eq!(seen.len(), 1),
        other => panic!("{other:?} in {all:#?}"),
    }
    for service in ["app", "ui"] {
        match value(&snapshot, m::RELEASES_IN_FLIGHT, &[("service", service)]) {
            Some(DebugValue::Gauge(n)) => assert_eq!(n.into_inner(), 0.0, "{service}"),
            other => panic!("{service}: {other:?} in {all:#?}"),
        }
    }
    assert_eq!(
        value(
            &snapshot,
            m::EVENTS_DEDUPLICATED,
            &[("layer", "state_store")]
        ),
        Some(&DebugValue::Counter(1)),
        "{all:#?}"
    );
    // Nothing typed became a label: every label value is a catalog name or
    // a fixed word.
    for (key, _, _, _) in &snapshot {
        for label in key.key().labels() {
            assert!(
                !label.value().contains(' ') && !label.value().contains("r-99"),
                "{label:?}"
            );
        }
    }
}
