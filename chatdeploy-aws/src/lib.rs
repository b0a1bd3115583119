//! AWS adapter for chatdeploy: the SSM Automation [`DeployBackend`](chatdeploy_core::backend::DeployBackend).
//!
//! This crate translates between AWS Systems Manager's wire format and the
//! core types; it holds no parsing or policy logic.
