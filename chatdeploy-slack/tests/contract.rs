#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! Core's chat contract: `SlackSurface` (the real slack-morphism client)
//! against the fake Web API, which observes what each channel shows.

mod support;

use std::sync::Arc;

use chatdeploy_core::chat::ChatSurface;
use chatdeploy_core::chat::contract;
use chatdeploy_slack::fake::FakeSlackApi;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_surface_satisfies_the_chat_contract() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack = support::slack_surface(&fake);
    contract::run_all(&slack, &fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_surface_satisfies_it_behind_a_trait_object() {
    let fake = FakeSlackApi::start().await.unwrap();
    let slack: Arc<dyn ChatSurface> = Arc::new(support::slack_surface(&fake));
    contract::run_all(&slack, &fake).await;
}
