//! chatdeploy-core: the domain of Slack-first releases, free of HTTP clients
//! and SDKs.
//!
//! - [`command`]: the command grammar, a pure [`parse`] function and
//!   [`Command`]'s canonical [`Display`](std::fmt::Display).
//! - [`catalog`]: the validated TOML configuration: channels, roles,
//!   approval settings and the service mapping.
//! - The five traits the engine drives, one per module with its data types:
//!   [`chat::ChatSurface`], [`backend::DeployBackend`],
//!   [`policy::ApproverPolicy`], [`audit::AuditSink`] and
//!   [`state::StateStore`], plus in-memory implementations for tests and
//!   embedding.

pub mod catalog;
pub mod command;
pub mod ids;
mod suggest;

pub use catalog::{Catalog, LoadCatalogError, Service};
pub use command::{Command, CommandKind, ParseCommandError, Verb, parse};
pub use ids::{
    ChannelId, DeploymentId, EventId, ExecutionId, GroupId, MessageId, Principal, UserId,
};
