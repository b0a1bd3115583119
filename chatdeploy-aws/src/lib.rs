//! AWS adapter for chatdeploy: the SSM Automation [`DeployBackend`](chatdeploy_core::backend::DeployBackend).
//!
//! This crate translates between AWS Systems Manager's wire format and the
//! core types; it holds no parsing or policy logic.
//!
//! - [`SsmBackend`]: the backend on `aws-sdk-ssm` (TLS by rustls with ring).
//! - `emulator` (feature `emulator`): `SsmEmulator`, an in-process SSM
//!   Automation emulator speaking awsJson 1.1 on loopback, for tests.

mod arn;
mod backend;
mod errors;
mod http;
mod mapping;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use backend::{BuildSsmBackendError, SsmBackend, SsmBackendBuilder};
#[cfg(feature = "emulator")]
pub use emulator::SsmEmulator;
pub use errors::Operation;
pub use http::https_client;
