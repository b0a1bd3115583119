#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! A burst of 10,000 signed events into `EventsApiListener::serve`, with a
//! handler that does blocking work per event, one event at a time (as a
//! state store on SQLite does: one writer), slower than the events arrive:
//! the process stays at a bounded number of threads, and no event is lost
//! or handled twice. Events answered 503 are sent again, as Slack
//! does, until accepted.
//!
//! Alone in its test binary: it counts the process's threads.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy_core::chat::{ChatEvent, EventHandler, Handled};
use chatdeploy_slack::EventsApiListener;
use support::{Served, mention_event, signed_post, threads};

const SECRET: &str = "burst-test-secret";
const EVENTS: usize = 10_000;
const CLIENTS: usize = 64;
const IN_FLIGHT: usize = 16;
/// Runtime workers, the blocking threads of the events in flight, and the
/// test harness's own few, with room to spare; without the backlog's bound
/// the blocking work alone would take hundreds.
const MAX_THREADS: usize = 64;

/// Counts how often each event was handled, after half a millisecond of
/// blocking work on tokio's blocking pool behind one lock (SQLite's one
/// writer): every event waiting for the lock holds a thread.
#[derive(Debug, Default)]
struct Counting {
    writer: Arc<Mutex<()>>,
    seen: Mutex<HashMap<String, usize>>,
    handled: AtomicUsize,
}

#[async_trait]
impl EventHandler for Counting {
    async fn handle(&self, event: ChatEvent) -> Handled {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = writer.lock().unwrap();
            std::thread::sleep(Duration::from_micros(500));
        })
        .await
        .unwrap();
        *self
            .seen
            .lock()
            .unwrap()
            .entry(event.id.to_string())
            .or_default() += 1;
        self.handled.fetch_add(1, Ordering::SeqCst);
        Handled::Accepted
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_handled_exactly_once_on_bounded_threads() {
    let handler = Arc::new(Counting::default());
    let served = Served::start(
        EventsApiListener::new(SECRET, handler.clone())
            .with_bot_user("U0BOT")
            .with_max_in_flight(IN_FLIGHT),
    )
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let done = Arc::clone(&done);
        async move {
            let mut most = threads();
            while !done.load(Ordering::SeqCst) {
                most = most.max(threads());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            most.max(threads())
        }
    });

    let refused = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let mut conn = served.connect().await;
        let refused = Arc::clone(&refused);
        clients.spawn(async move {
            let mut accepted = Vec::new();
            for n in (client..EVENTS).step_by(CLIENTS) {
                let id = format!("EvBurst{n}");
                let body = mention_event(&id);
                loop {
                    // Signed again each time, as each of Slack's deliveries is.
                    match conn
                        .request(&signed_post(SECRET, "/slack/events", &body))
                        .await
                    {
                        200 => break,
                        503 => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        other => panic!("{id}: answered {other}"),
                    }
                }
                accepted.push(id);
            }
            accepted
        });
    }
    let mut accepted = 0;
    while let Some(ids) = clients.join_next().await {
        accepted += ids.unwrap().len();
    }
    assert_eq!(accepted, EVENTS, "every event was answered 200 in the end");

    for _ in 0..1_000 {
        if handler.handled.load(Ordering::SeqCst) >= EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let anything extra (a second handling) show up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    done.store(true, Ordering::SeqCst);
    let most_threads = sampler.await.unwrap();

    let seen = handler.seen.lock().unwrap();
    assert_eq!(seen.len(), EVENTS, "every event reached the handler");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert_eq!(handler.handled.load(Ordering::SeqCst), EVENTS);
    assert!(
        most_threads < MAX_THREADS,
        "{most_threads} threads at most during the burst"
    );
    assert!(
        refused.load(Ordering::Relaxed) > 0,
        "the backlog filled up (the test exercised 503s)"
    );
    println!(
        "{EVENTS} events, {} answered 503 and sent again, {most_threads} threads at most",
        refused.load(Ordering::Relaxed)
    );
}
