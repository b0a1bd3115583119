//! The [`EventHandler`] trait: what chat listeners hand inbound events to.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ChatEvent, Engine, Handled};

/// Receives translated inbound chat events. [`Engine`] is the real one;
/// listeners depend on this trait so their tests can count the calls.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Handles one event (see [`Engine::handle`]); never fails.
    async fn handle(&self, event: ChatEvent) -> Handled;
}

#[async_trait]
impl EventHandler for Engine {
    async fn handle(&self, event: ChatEvent) -> Handled {
        Engine::handle(self, event).await
    }
}

macro_rules! forward_event_handler {
    ($ptr:ty) => {
        #[async_trait]
        impl<T: EventHandler + ?Sized> EventHandler for $ptr {
            async fn handle(&self, event: ChatEvent) -> Handled {
                (**self).handle(event).await
            }
        }
    };
}
forward_event_handler!(Arc<T>);
forward_event_handler!(Box<T>);
