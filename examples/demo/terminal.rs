//! A chat surface that shows the deploy channel in a terminal.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chatdeploy::core::chat::{ChatError, ChatSurface, Conversation, Message, PostedMessage, Text};
use chatdeploy::core::{GroupId, MessageId, UserId};

/// What the channel shows, as lines of plain text (core's messages carry
/// no markup to strip); message IDs count up.
pub(crate) struct TerminalChatSurface {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Thread numbers by root message, in order of appearance.
    threads: HashMap<String, usize>,
    /// The last headline shown for each message, to show only real changes.
    headlines: HashMap<String, Text>,
    /// The thread label of each message.
    labels: HashMap<String, String>,
    /// Lines not printed yet.
    pending: Vec<String>,
}

impl TerminalChatSurface {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Takes the lines the channel showed since the last call.
    pub(crate) fn drain(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().pending)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn thread_label(inner: &mut Inner, to: &Conversation) -> String {
        match &to.thread {
            None => String::new(),
            Some(root) => {
                let next = inner.threads.len() + 1;
                let n = *inner.threads.entry(root.to_string()).or_insert(next);
                format!("[thread {n}] ")
            }
        }
    }

    fn show(&self, inner: &mut Inner, prefix: &str, message: &Message) {
        let body = message.to_plain_text();
        let mut lines = body.lines();
        if let Some(first) = lines.next() {
            inner.pending.push(format!("  {prefix}{first}"));
        }
        for line in lines {
            inner.pending.push(format!("      {}", line.trim_start()));
        }
    }
}

#[async_trait]
impl ChatSurface for TerminalChatSurface {
    async fn post(&self, to: &Conversation, message: &Message) -> Result<PostedMessage, ChatError> {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = MessageId::new(format!("1700000000.{:06}", inner.next_id));
        let label = Self::thread_label(&mut inner, to);
        inner.headlines.insert(id.to_string(), message.text.clone());
        inner.labels.insert(id.to_string(), label.clone());
        self.show(&mut inner, &format!("{label}deploybot: "), message);
        Ok(PostedMessage {
            channel: to.channel.clone(),
            id,
        })
    }

    async fn update(&self, posted: &PostedMessage, message: &Message) -> Result<(), ChatError> {
        let mut inner = self.lock();
        // Show an update only when its headline changed: step-by-step
        // progress would otherwise flood the terminal.
        if inner.headlines.get(posted.id.as_str()) == Some(&message.text) {
            return Ok(());
        }
        inner
            .headlines
            .insert(posted.id.to_string(), message.text.clone());
        let text = message.text.to_string();
        let label = inner
            .labels
            .get(posted.id.as_str())
            .cloned()
            .unwrap_or_default();
        inner
            .pending
            .push(format!("  {label}deploybot (edited): {text}"));
        Ok(())
    }

    async fn post_ephemeral(
        &self,
        _to: &Conversation,
        user: &UserId,
        message: &Message,
    ) -> Result<(), ChatError> {
        let mut inner = self.lock();
        self.show(
            &mut inner,
            &format!("(only {user} sees) deploybot: "),
            message,
        );
        Ok(())
    }

    async fn group_members(&self, group: &GroupId) -> Result<Vec<UserId>, ChatError> {
        Err(ChatError::Refused {
            operation: "group_members".into(),
            code: format!("the demo has no user group {group}"),
        })
    }
}
