//! The engine's release messages, as transport-neutral [`Text`]: the status
//! message (updated in place), the approval request, the final summary and
//! the sentences they share. No chat markup: mentions, links and emphasis
//! are spans a surface renders; what people and backends supplied is
//! [`Text::user_text`], rendered inert.

mod approval;
mod status;
mod summary;

use chrono::{DateTime, Utc};

use crate::chat::Text;
use crate::ids::{Principal, UserId};
use crate::state::{
    Actor, ApprovalState, DeploymentRecord, LockHolder, ReleaseKind, ServiceLock, WaitEnd,
};

pub(crate) use approval::approval_request;
pub(crate) use status::status_message;
pub(crate) use summary::summary;

/// Links to the record of a release.
#[derive(Debug, Clone, Default)]
pub(crate) struct Links {
    pub(crate) release: Option<String>,
    pub(crate) execution: Option<String>,
}

/// The key of the approval wait a `before_start` service opens.
pub(crate) const BEFORE_START: &str = "before_start";

pub(crate) fn principal(principal: &Principal) -> Text {
    match principal {
        Principal::User(user) => Text::new().user(user.clone()),
        Principal::Group(group) => Text::new().group(group.clone()),
    }
}

/// `@a, @b`.
pub(crate) fn mentions(users: &[UserId]) -> Text {
    Text::new().join(users.iter().map(|u| Text::new().user(u.clone())), ", ")
}

pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `at + duration`, saturating at the latest time chrono can hold rather
/// than overflowing (a configured duration can be large).
pub(crate) fn add_duration(at: DateTime<Utc>, duration: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn format_duration(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// "**app** r-99.1.0 to production" (or "**app** rollback to r-98.0.0 in
/// production").
pub(crate) fn title(record: &DeploymentRecord) -> Text {
    let rest = match record.kind {
        ReleaseKind::Deploy => format!(" {} to {}", record.version, record.environment),
        ReleaseKind::Rollback => {
            format!(" rollback to {} in {}", record.version, record.environment)
        }
    };
    Text::new().emphasis(record.service.clone()).and(rest)
}

/// An actor as people read it: a chat mention, or the backend's name for
/// someone outside chat.
pub(crate) fn actor(actor: &Actor) -> Text {
    match actor {
        Actor::User(user) => Text::new().user(user.clone()),
        Actor::Backend(principal) => Text::from_user(principal.clone()).and(" (outside chat)"),
    }
}

/// How an approval wait ended, as a clause: "approved by @bob".
pub(crate) fn wait_end(wait: &ApprovalState, end: &WaitEnd) -> Text {
    match end {
        WaitEnd::Approved { in_chat, outside } => {
            let mut by: Vec<Text> = in_chat
                .iter()
                .map(|u| Text::new().user(u.clone()))
                .collect();
            by.extend(
                outside
                    .iter()
                    .map(|p| Text::from_user(p.clone()).and(" in the AWS console")),
            );
            if by.is_empty() {
                Text::plain("approved")
            } else {
                Text::plain("approved by ").join(by, ", ")
            }
        }
        WaitEnd::Rejected {
            by: Actor::User(user),
            ..
        } => Text::plain("rejected by ").user(user.clone()),
        WaitEnd::Rejected {
            by: Actor::Backend(principal),
            ..
        } => Text::plain("rejected in the AWS console by ").user_text(principal.clone()),
        WaitEnd::TimedOut { in_backend: true } => Text::plain("not decided: approval step ")
            .user_text(wait.key.clone())
            .and(" timed out in AWS before enough approvals"),
        WaitEnd::TimedOut { in_backend: false } => Text::plain("nobody decided in time"),
        WaitEnd::Cancelled { by: Some(user) } => {
            Text::plain("no decision needed any more: cancelled by ").user(user.clone())
        }
        WaitEnd::Cancelled { by: None } => Text::plain(
            "no decision needed any more: the execution was stopped outside chat (AWS console \
             or CLI; AWS does not say by whom)",
        ),
        WaitEnd::Failed { .. } => {
            Text::plain("no decision needed any more: the execution failed while waiting")
        }
    }
}

/// Why a service is not free, and what to do about it.
pub(crate) fn busy(lock: &ServiceLock) -> Text {
    let since = format_time(lock.since);
    match &lock.holder {
        LockHolder::Release {
            deployment,
            version,
            requester,
        } => Text::plain(format!("{} is busy: ", lock.service))
            .user(requester.clone())
            .and(format!(
                " is releasing {version} since {since} (release {deployment}). Wait for it to \
                 finish, or type "
            ))
            .code(format!("cancel {deployment}"))
            .and("."),
        LockHolder::Manual { by, reason } => {
            let mut text = Text::plain(format!("{} is locked by ", lock.service))
                .user(by.clone())
                .and(format!(" since {since}"));
            if let Some(reason) = reason {
                text = text.and(": ").user_text(reason.clone());
            }
            text.and(". Ask them, or type ")
                .code(format!("unlock {}", lock.service))
                .and(" when it is safe.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(252)), "4m 12s");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 120)),
            "3h 2m"
        );
    }

    #[test]
    fn adding_a_huge_duration_saturates() {
        let now = Utc::now();
        assert_eq!(
            add_duration(now, std::time::Duration::from_secs(u64::MAX)),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
