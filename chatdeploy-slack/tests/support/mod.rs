//! Shared test helpers: a handler that records the events it is given, and
//! the Slack surface on the fake Web API.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatdeploy_core::chat::{ChatEvent, EventHandler, Handled};
use chatdeploy_slack::SlackSurface;
use chatdeploy_slack::fake::FakeSlackApi;

/// The real Slack surface (slack-morphism's client) on `fake`'s Web API.
pub fn slack_surface(fake: &FakeSlackApi) -> SlackSurface {
    SlackSurface::builder()
        .with_token("xoxb-test-token")
        .with_api_url(fake.api_url())
        .build()
        .unwrap()
}

/// Records every event; answers `Accepted`.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<ChatEvent>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn events(&self) -> Vec<ChatEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (briefly) until `n` events arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<ChatEvent> {
        for _ in 0..400 {
            if self.events.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.events()
    }

    /// Lets spawned work run, then returns what arrived.
    pub async fn settle(&self) -> Vec<ChatEvent> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.events()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: ChatEvent) -> Handled {
        self.events.lock().unwrap().push(event);
        Handled::Accepted
    }
}
