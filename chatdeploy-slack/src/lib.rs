//! Slack adapter for chatdeploy: the Slack [`ChatSurface`](chatdeploy_core::chat::ChatSurface).
//!
//! This crate translates between Slack's wire formats and the core types; it
//! holds no parsing or policy logic.
