//! Slack adapter for chatdeploy: the Slack [`ChatSurface`](chatdeploy_core::chat::ChatSurface)
//! ([`SlackSurface`]), Block Kit rendering ([`blocks`]), and the inbound
//! listeners ([`EventsApiListener`] over HTTP, [`SocketModeListener`] over a
//! websocket) that translate Slack's payloads into core
//! [`ChatEvent`](chatdeploy_core::chat::ChatEvent)s.
//!
//! This crate translates between Slack's wire formats and the core types; it
//! holds no parsing or policy logic. With feature `fake`, [`fake`] has
//! loopback fakes of the Web API and the Socket Mode server.

mod backlog;
pub mod blocks;
mod client;
mod events_api;
mod ids;
pub mod inbound;
pub mod mrkdwn;
mod socket_mode;
mod surface;

#[cfg(feature = "fake")]
pub mod fake;

pub use backlog::DEFAULT_MAX_IN_FLIGHT;
pub use client::{BuildError, SLACK_API_URL};
pub use events_api::{
    DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_INTERACTIVE_WAIT, DEFAULT_MAX_CONNECTIONS, EventsApiListener,
};
pub use ids::SlackIdentities;
pub use socket_mode::{SocketModeError, SocketModeListener};
pub use surface::{
    BotIdentity, DEFAULT_GROUP_CACHE_TTL, DEFAULT_RATE_LIMIT_RETRIES, SlackSurface,
    SlackSurfaceBuilder, hint,
};
