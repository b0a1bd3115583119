//! chatdeploy-core: the domain of Slack-first releases, free of HTTP clients
//! and SDKs.
//!
//! - [`command`]: the command grammar, a pure [`parse`] function and
//!   [`Command`]'s canonical [`Display`](std::fmt::Display).
//! - [`suggest`]: the "did you mean" and look-alike character checks the
//!   parser and the catalog share.
//! - `catalog`: the validated TOML configuration: channels, roles,
//!   approval settings and the service mapping.
//! - The five traits the engine drives, one per module with its data types:
//!   `chat::ChatSurface`, `backend::DeployBackend`,
//!   `policy::ApproverPolicy`, `audit::AuditSink` and
//!   `state::StateStore`, plus in-memory implementations for tests and
//!   embedding.
//! - `metrics`: the names, labels and label rules of the metrics the
//!   engine and the adapters record through the `metrics` facade.
//!
//! # The parser alone
//!
//! Everything but [`command`] and [`suggest`] is behind the default feature
//! `engine`. To read commands in your own tool with nothing but std and
//! thiserror:
//!
//! ```toml
//! [dependencies]
//! chatdeploy-core = { version = "0.1", default-features = false }
//! ```
//!
//! `examples/parse_only.rs` is such a tool: it prints the canonical form of
//! each line it reads, or the sentence saying what to type instead
//! (`cargo run -p chatdeploy-core --no-default-features --example parse_only`).
//! The text must be plain: a chat surface undoes its own markup (Slack's
//! mentions, links and `&amp;` entities) before it calls [`parse`].
//!
//! # Test doubles
//!
//! Features for other crates' tests: `fake` adds the test doubles
//! (`testing`: a scripted backend and fixtures), each trait's conformance
//! suite (its `contract` module, e.g. `backend::contract`, to run against
//! every implementation) and the failure-injection knobs of the in-memory
//! and recording implementations; `test-util` adds mockall mocks of the
//! traits (`Mock*`) to everything in `fake`.

#[cfg(feature = "engine")]
pub mod audit;
#[cfg(feature = "engine")]
pub mod backend;
#[cfg(feature = "engine")]
pub mod catalog;
#[cfg(feature = "engine")]
pub mod chat;
pub mod command;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod ids;
#[cfg(feature = "engine")]
pub mod metrics;
#[cfg(feature = "engine")]
pub mod policy;
#[cfg(feature = "engine")]
pub mod preflight;
#[cfg(feature = "engine")]
pub mod state;
pub mod suggest;
#[cfg(all(feature = "engine", any(test, feature = "fake")))]
pub mod testing;

#[cfg(feature = "engine")]
pub use catalog::{Catalog, LoadCatalogError, Service};
pub use command::{Command, CommandKind, ParseCommandError, Verb, parse};
#[cfg(feature = "engine")]
pub use ids::{
    ChannelId, DeploymentId, EventId, ExecutionId, GroupId, MessageId, Principal, UserId,
};

#[cfg(all(test, feature = "engine"))]
mod object_safety {
    //! The traits are used as `Arc<dyn Trait>` by the engine and adapters;
    //! this fails to compile if one stops being object-safe, `Send` or
    //! `Sync`, and shows the mocks are generated.
    use std::sync::Arc;

    use crate::audit::{AuditAction, AuditEvent, AuditSink, MockAuditSink};
    use crate::backend::{DeployBackend, MockDeployBackend};
    use crate::chat::{ChatSurface, MockChatSurface};
    use crate::policy::{ApproverPolicy, MockApproverPolicy};
    use crate::state::{MockStateStore, StateStore};

    fn assert_send_sync<T: Send + Sync + ?Sized>() {}

    #[tokio::test]
    async fn traits_are_object_safe_and_mockable() {
        assert_send_sync::<dyn ChatSurface>();
        assert_send_sync::<dyn DeployBackend>();
        assert_send_sync::<dyn ApproverPolicy>();
        assert_send_sync::<dyn AuditSink>();
        assert_send_sync::<dyn StateStore>();
        let _chat: Arc<dyn ChatSurface> = Arc::new(MockChatSurface::new());
        let _backend: Arc<dyn DeployBackend> = Arc::new(MockDeployBackend::new());
        let _policy: Box<dyn ApproverPolicy> = Box::new(MockApproverPolicy::new());
        let _state: Arc<dyn StateStore> = Arc::new(MockStateStore::new());
        let mut audit = MockAuditSink::new();
        audit.expect_record().times(1).returning(|_| Ok(()));
        let audit: Arc<dyn AuditSink> = Arc::new(audit);
        // Through the forwarding impl for Arc<T>.
        let forwarded = Arc::new(audit);
        forwarded
            .record(&AuditEvent::new(AuditAction::Queried, None))
            .await
            .unwrap();
    }
}
