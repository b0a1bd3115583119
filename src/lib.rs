//! chatdeploy: Slack-first production releases on AWS SSM Automation.
//!
//! This facade re-exports the member crates so an application depends on one
//! crate and picks adapters with features:
//!
//! - [`core`] (always): commands, catalog, the traits and the engine;
//! - `aws` feature: [`aws`], the SSM Automation backend;
//! - `slack` feature: [`slack`], the Slack chat surface;
//! - `sqlite` feature: [`sqlite`], the SQLite state store and audit sink.

pub use chatdeploy_core as core;
pub use chatdeploy_core::{Command, ParseCommandError, parse};

#[cfg(feature = "aws")]
pub use chatdeploy_aws as aws;

#[cfg(feature = "slack")]
pub use chatdeploy_slack as slack;

#[cfg(feature = "sqlite")]
pub use chatdeploy_sqlite as sqlite;
