#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! A measurement, not a check (ignored by default): event deduplication
//! through one store, the path every inbound event takes.
//!
//! ```sh
//! bash .ci/postgres.sh run -- cargo test --release -p chatdeploy-postgres \
//!     --test throughput -- --ignored --nocapture
//! ```
//!
//! `CHATDEPLOY_BENCH_SECONDS` (default 5), `CHATDEPLOY_BENCH_CONCURRENCY`
//! (callers at once, default 16) and `CHATDEPLOY_BENCH_POOL` (connections,
//! default 16) tune it. The design's target: at least 5,000 events/s with
//! p99 under 5 ms on the 2-core machine (server included).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatdeploy_core::ids::EventId;
use chatdeploy_core::state::StateStore;
use chrono::Utc;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
async fn event_deduplication_throughput_and_latency() {
    let db = db_or_skip!("event_deduplication_throughput");
    let seconds = setting("CHATDEPLOY_BENCH_SECONDS", 5).clamp(1, 120);
    let concurrency = setting("CHATDEPLOY_BENCH_CONCURRENCY", 16).clamp(1, 512);
    let pool = setting("CHATDEPLOY_BENCH_POOL", 16).clamp(1, 128);
    let store = Arc::new(
        db.builder()
            .with_pool_size(usize::try_from(pool).unwrap())
            .build()
            .await
            .unwrap(),
    );
    let expires = Utc::now() + chrono::Duration::minutes(10);
    // Warm up: open the connections and prepare the statement on each.
    let mut warm = tokio::task::JoinSet::new();
    for t in 0..pool {
        let store = Arc::clone(&store);
        warm.spawn(async move {
            for i in 0..50 {
                let id = EventId::new(format!("warm-{t}-{i}"));
                store.remember_event(&id, expires).await.unwrap();
            }
        });
    }
    while let Some(done) = warm.join_next().await {
        done.unwrap();
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..concurrency {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut redeliveries = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                // Every tenth event is a redelivery of the one before.
                let n = if i % 10 == 9 { i - 1 } else { i };
                let id = EventId::new(format!("Ev-{t}-{n}"));
                let at = Instant::now();
                let new = store.remember_event(&id, expires).await.unwrap();
                latencies.push(at.elapsed());
                redeliveries += u64::from(!new);
                i += 1;
            }
            // Calls number 9, 19, 29, … were redeliveries.
            assert_eq!(redeliveries, i / 10, "every redelivery is recognised");
            (latencies, redeliveries)
        });
    }
    let mut latencies = Vec::new();
    let mut redeliveries = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, r) = done.unwrap();
        latencies.extend(l);
        redeliveries += r;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[index]
    };
    let count = latencies.len();
    println!(
        "remember_event: {count} calls in {elapsed:.2?} = {:.0}/s with {concurrency} callers on \
         {pool} connections; p50 {:.2?}, p99 {:.2?}, p99.9 {:.2?}, max {:.2?}; {redeliveries} \
         redeliveries recognised",
        count as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(0.999),
        latencies[count - 1],
    );
    db.cleanup().await;
}
