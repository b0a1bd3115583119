//! AWS adapter for chatdeploy: the SSM Automation [`DeployBackend`](chatdeploy_core::backend::DeployBackend).
//!
//! This crate translates between AWS Systems Manager's wire format and the
//! core types; it holds no parsing or policy logic.
//!
//! - [`SsmBackend`]: the backend on `aws-sdk-ssm` (TLS by rustls with ring).
//! - [`permissions`]: what the bot's calls need from IAM, simulated with
//!   `iam:SimulatePrincipalPolicy` for `check`.
//! - `emulator` (feature `emulator`): `SsmEmulator`, an in-process SSM
//!   Automation emulator speaking awsJson 1.1 on loopback, for tests.

mod arn;
mod backend;
mod builder;
mod deploy;
mod errors;
mod gate;
mod http;
mod mapping;
pub mod permissions;
mod simulate;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use backend::SsmBackend;
pub use builder::{BuildSsmBackendError, SsmBackendBuilder};
#[cfg(feature = "emulator")]
pub use emulator::SsmEmulator;
pub use errors::Operation;
pub use http::{default_timeouts, https_client};
pub use permissions::{
    BotPrincipal, ContextEntry, ContextKind, PermissionCheck, PermissionVerdict, PermissionsError,
    PolicyDecision, ReleasePermissions,
};
