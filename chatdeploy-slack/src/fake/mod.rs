//! Loopback fakes of Slack for tests (feature `fake`): the Web API
//! ([`FakeSlackApi`], also the observer of core's chat contract), the
//! Socket Mode server ([`FakeSocketModeServer`]) and payload builders in
//! Slack's documented shapes ([`payloads`]).

mod api;
mod observer;
pub mod payloads;
mod socket;

pub use api::{ApiCall, FAKE_BOT_USER, FakeFailure, FakeMessage, FakeSlackApi, SocketTicket};
pub use socket::{
    FakeAck, FakeConnection, FakeEnvelopePush, FakeSocketModeConfig, FakeSocketModeServer,
    SLACK_ACK_TIMEOUT, SLACK_MAX_CONNECTIONS, SLACK_RETRIES,
};

/// Locks a mutex, ignoring poisoning (a test that panicked already failed).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
