//! Many releases in flight in one process: the real engine drives N releases
//! (default 1,000, one per service, each with an approval step) against the
//! SSM emulator through the real AWS SDK, with in-memory state and a chat
//! surface that keeps nothing. Reports peak RSS, backend calls per
//! release-minute, and the time from the last approval to the last
//! completion.
//!
//! ```text
//! cargo run --release -p inflight -- [RELEASES] [WAIT_SECONDS]
//! ```

use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatdeploy_aws::SsmEmulator;
use chatdeploy_core::Catalog;
use chatdeploy_core::audit::{AuditError, AuditEvent, AuditSink};
use chatdeploy_core::chat::NullChatSurface;
use chatdeploy_core::chat::{ChatEvent, Handled};
use chatdeploy_core::engine::Engine;
use chatdeploy_core::state::{InMemoryStateStore, StateStore};

const DOCUMENT: &str = r#"
schemaVersion: '0.3'
parameters:
  ReleaseVersion: {type: String}
mainSteps:
  - name: Prepare
    action: aws:sleep
    inputs: {Duration: PT5S}
  - name: Approve
    action: aws:approve
    inputs:
      Approvers: ['arn:aws:iam::123456789012:role/chatdeploy']
      MinRequiredApprovals: 1
  - name: Rollout
    action: aws:sleep
    inputs: {Duration: PT10S}
"#;

/// Counts audit records without keeping them.
struct CountingAudit(AtomicU64);

#[async_trait]
impl AuditSink for CountingAudit {
    async fn record(&self, _: &AuditEvent) -> Result<(), AuditError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn catalog(releases: usize) -> Result<Catalog, Box<dyn Error>> {
    let mut toml = String::from(
        "[chat]\ndeploy_channels = [\"C0DEPLOY\"]\n[roles]\ndeployers = [\"U0ALICE\"]\napprovers = [\"U0BOB\"]\n[approval]\ntimeout = \"2h\"\n",
    );
    for i in 0..releases {
        write!(
            toml,
            "[services.svc{i}]\nversion_pattern = '^r-\\d+$'\ndocument = \"Deploy\"\napproval = \"document\"\nparameters = {{ ReleaseVersion = \"{{version}}\" }}\n"
        )?;
    }
    Ok(Catalog::from_toml_str(&toml, "inflight.toml")?)
}

async fn settle_until(
    engine: &Engine,
    state: &InMemoryStateStore,
    done: impl Fn(usize) -> bool,
) -> Result<(), Box<dyn Error>> {
    loop {
        engine.until_settled().await;
        let in_flight = state.in_flight().await?.len();
        if done(in_flight) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let releases: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let wait: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(60);

    let at_start = rss_kib("VmRSS:");
    let emulator = SsmEmulator::builder()
        .step_delay(Duration::from_millis(500))
        .record_bodies(false)
        .document("Deploy", DOCUMENT)
        .start()
        .await?;
    let with_emulator = rss_kib("VmRSS:");
    let catalog = catalog(releases)?;
    let with_catalog = rss_kib("VmRSS:");
    let state = Arc::new(InMemoryStateStore::new());
    let audit = Arc::new(CountingAudit(AtomicU64::new(0)));
    let engine = Engine::builder()
        .with_catalog(catalog)
        .with_chat(Arc::new(NullChatSurface::new()))
        .with_backend(Arc::new(emulator.backend()))
        .with_audit(audit.clone())
        .with_state(state.clone())
        .build()?;
    let idle = rss_kib("VmRSS:");

    let started = Instant::now();
    for i in 0..releases {
        let event = ChatEvent::command(
            format!("EvStart{i}"),
            "U0ALICE",
            "C0DEPLOY",
            format!("deploy svc{i} r-1"),
        )
        .with_message(format!("1800000000.{i:06}"));
        match engine.handle(event).await {
            Handled::Released(_) => {}
            other => return Err(format!("release {i} was not started: {other:?}").into()),
        }
    }
    // Every release reaches its approval step and waits for people.
    settle_until(&engine, &state, |_| true).await?;
    let waiting_calls = emulator.total_calls();
    let all_waiting = rss_kib("VmRSS:");
    let waiting_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let calls_while_waiting = emulator.total_calls() - waiting_calls;
    let waited_minutes = waiting_from.elapsed().as_secs_f64() / 60.0;

    for i in 0..releases {
        let event = ChatEvent::command(
            format!("EvApprove{i}"),
            "U0BOB",
            "C0DEPLOY",
            format!("approve svc{i}"),
        );
        engine.handle(event).await;
    }
    let last_approval = Instant::now();
    settle_until(&engine, &state, |in_flight| in_flight == 0).await?;
    let drain = last_approval.elapsed();
    let total_minutes = started.elapsed().as_secs_f64() / 60.0;
    let calls = emulator.total_calls();

    println!("releases in flight:             {releases}");
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!(
        "RSS: process {:.1} MB, with emulator {:.1} MB, with the catalog of {releases} services {:.1} MB, engine idle {:.1} MB, all releases waiting {:.1} MB",
        mb(at_start),
        mb(with_emulator),
        mb(with_catalog),
        mb(idle),
        mb(all_waiting)
    );
    println!(
        "peak RSS (VmHWM):               {:.1} MB",
        rss_kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "backend calls while waiting:    {:.2} per release-minute ({calls_while_waiting} calls, {releases} releases, {waited_minutes:.2} min)",
        calls_while_waiting as f64 / releases as f64 / waited_minutes
    );
    println!(
        "backend calls overall:          {:.2} per release-minute ({calls} calls over {total_minutes:.2} min)",
        calls as f64 / releases as f64 / total_minutes
    );
    println!(
        "last approval to last completion: {:.2} s",
        drain.as_secs_f64()
    );
    println!(
        "executions: {}, audit records: {}",
        emulator.executions(),
        audit.0.load(Ordering::Relaxed)
    );
    Ok(())
}
