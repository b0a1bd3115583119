#![doc = include_str!("../README.md")]
//!
//! ## This crate
//!
//! A facade re-exporting the member crates, so an application depends on one
//! crate and picks adapters with features (all on by default):
//!
//! - `core` (always): commands, catalog, the traits and the engine;
//! - `aws`: the SSM Automation backend;
//! - `slack`: the Slack chat surface and listeners;
//! - `sqlite`: the SQLite state store and audit sink;
//! - `postgres`: the PostgreSQL state store and audit sink, for several
//!   replicas sharing one database;
//! - `bot` (with all of the above): the bot as a program, the `chatdeploy`
//!   binary and its wiring (`chatdeploy::bot`), which the `slack_ssm`
//!   example runs too.

pub use chatdeploy_core as core;
pub use chatdeploy_core::{Command, ParseCommandError, parse};

#[cfg(feature = "aws")]
pub use chatdeploy_aws as aws;

#[cfg(feature = "slack")]
pub use chatdeploy_slack as slack;

#[cfg(feature = "sqlite")]
pub use chatdeploy_sqlite as sqlite;

#[cfg(feature = "postgres")]
pub use chatdeploy_postgres as postgres;

#[cfg(feature = "bot")]
pub use chatdeploy_bot as bot;
