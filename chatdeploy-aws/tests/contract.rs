#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Core's backend contract: `SsmBackend` on the real SDK clients (SSM and
//! STS) against the SSM emulator on loopback, in real time.

mod support;

use std::sync::Arc;

use chatdeploy_core::backend::DeployBackend;
use chatdeploy_core::backend::contract;
use support::{contract_fixture, emulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssm_backend_satisfies_the_backend_contract() {
    let emulator = emulator().await;
    contract::run_all(&emulator.backend(), &contract_fixture()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssm_backend_satisfies_it_behind_a_trait_object() {
    let emulator = emulator().await;
    let backend: Arc<dyn DeployBackend> = Arc::new(emulator.backend());
    contract::run_all(&backend, &contract_fixture()).await;
}
