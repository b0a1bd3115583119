//! `Engine::handle` for one `status` mention, as the receive-path benchmark
//! sends it: dedupe, parse, route, render the answer, audit, post. In-memory
//! state, a chat surface and an audit sink that keep nothing, so this is the
//! engine's own CPU cost per event. Every event has a new ID, so the dedupe
//! table grows through the run as it does under load.
//!
//! Run with `cargo bench -p chatdeploy-core --bench handle`.

use std::hint::black_box;
use std::sync::Arc;

use chatdeploy_core::Catalog;
use chatdeploy_core::chat::ChatEvent;
use chatdeploy_core::chat::NullChatSurface;
use chatdeploy_core::engine::Engine;
use chatdeploy_core::state::InMemoryStateStore;
use chatdeploy_core::testing::{NullAuditSink, ONE_SERVICE_CATALOG, ScriptedBackend};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_handle(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = Engine::builder()
        .with_catalog(Catalog::from_toml_str(ONE_SERVICE_CATALOG, "bench.toml").expect("catalog"))
        .with_chat(Arc::new(NullChatSurface::new()))
        .with_backend(Arc::new(ScriptedBackend::new()))
        .with_audit(Arc::new(NullAuditSink))
        .with_state(Arc::new(InMemoryStateStore::new()))
        .with_dedupe_ttl(std::time::Duration::from_secs(600))
        .build()
        .expect("engine");
    let mut n = 0u64;
    c.bench_function("handle/status mention", |b| {
        b.iter(|| {
            n += 1;
            let event = ChatEvent::command(
                format!("Ev0BENCH{n:012}"),
                "U0ALICE",
                "C0DEPLOY",
                // As the Slack adapter hands a mention over: plain text.
                "status",
            )
            .with_message("1700000001.000100");
            black_box(runtime.block_on(engine.handle(event)))
        });
    });
}

criterion_group!(benches, bench_handle);
criterion_main!(benches);
