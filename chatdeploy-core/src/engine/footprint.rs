//! The futures every inbound event allocates stay under 1 KiB: above that,
//! glibc's allocator leaves its per-thread cache and consolidates its fast
//! bins on each allocation, which showed as ~1% of the receive path's CPU
//! (docs/PERFORMANCE.md). Rare branches are boxed to keep it so.

use std::sync::Arc;

use super::Engine;
use super::request::{self, Request};
use crate::audit::InMemoryAuditSink;
use crate::chat::NullChatSurface;
use crate::engine::ChatEvent;
use crate::state::InMemoryStateStore;
use crate::testing::{ONE_SERVICE_CATALOG, ScriptedBackend};

const LIMIT: usize = 1024;

fn engine() -> Engine {
    let catalog = crate::Catalog::from_toml_str(ONE_SERVICE_CATALOG, "footprint.toml").unwrap();
    Engine::builder()
        .with_catalog(catalog)
        .with_chat(Arc::new(NullChatSurface::new()))
        .with_backend(Arc::new(ScriptedBackend::new()))
        .with_audit(Arc::new(InMemoryAuditSink::new()))
        .with_state(Arc::new(InMemoryStateStore::new()))
        .build()
        .unwrap()
}

#[test]
fn an_events_futures_stay_under_a_kibibyte() {
    let engine = engine();
    let event = ChatEvent::command("Ev1", "U0ALICE", "C0DEPLOY", "status");
    let handle = engine.handle(event.clone());
    assert!(
        size_of_val(&handle) < LIMIT,
        "handle: {}",
        size_of_val(&handle)
    );

    let request = Request {
        event: &event,
        command: None,
        at: chrono::Utc::now(),
    };
    let status = crate::command::parse("status").unwrap();
    let answer = super::queries::answer(&engine.shared, &request, &status);
    assert!(
        size_of_val(&answer) < LIMIT,
        "answer: {}",
        size_of_val(&answer)
    );
    let refuse = request::refuse(&engine.shared, &request, String::new(), None);
    assert!(size_of_val(&*refuse) < LIMIT);
}
