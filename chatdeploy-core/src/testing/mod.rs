//! Test doubles for other crates' tests (feature `fake`, no mockall).
//!
//! - [`ScriptedBackend`]: a [`DeployBackend`](crate::backend::DeployBackend)
//!   that runs scripted steps on tokio's clock, with approval steps, failures,
//!   throttling and decisions made "outside chat", and records every call.
//! - [`NullAuditSink`] and [`ONE_SERVICE_CATALOG`], for benchmarks.
//!
//! The in-memory state store, audit sink and recording chat surface live in
//! their trait modules and are always available; their failure-injection
//! knobs are behind `fake` too, like each trait's conformance suite:
//! [`state::contract`](crate::state::contract),
//! [`backend::contract`](crate::backend::contract),
//! [`audit::contract`](crate::audit::contract) and
//! [`chat::contract`](crate::chat::contract).

mod fixtures;
mod scripted;

pub use fixtures::{NullAuditSink, ONE_SERVICE_CATALOG};
pub use scripted::{BackendCall, FakeStep, SCRIPTED_BOT_ARN, ScriptedBackend};
