//! Identifiers shared by every module: who, where, which release.
//!
//! They are plain strings on the wire; the newtypes keep a user ID from being
//! passed where a channel ID is expected. Inside, an ID is shared rather than
//! copied (`Arc<str>`): one event's IDs are cloned into its audit record, its
//! reply's conversation and more, on every event.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a raw identifier.
            pub fn new(id: impl AsRef<str>) -> Self {
                Self(Arc::from(id.as_ref()))
            }

            /// The raw identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(Arc::from(id))
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(Arc::from(id.as_str()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(SharedStr).map(Self)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Reads a string straight into an `Arc<str>` (one copy, from the input).
struct SharedStr;

impl serde::de::Visitor<'_> for SharedStr {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an identifier string")
    }

    fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<Arc<str>, E> {
        Ok(Arc::from(id))
    }
}

string_id!(
    /// An immutable chat user ID (Slack: `U…` or `W…`), never a display name.
    UserId
);
string_id!(
    /// A chat user-group ID (Slack: `S…`).
    GroupId
);
string_id!(
    /// A conversation (channel, group or direct message) ID (Slack: `C…`, `G…`, `D…`).
    ChannelId
);
string_id!(
    /// A message's ID within its channel (Slack: the `ts` of the message).
    MessageId
);
string_id!(
    /// The ID of an inbound chat event, used to drop redeliveries
    /// (Slack: `event_id`, the envelope ID, or the action's trigger ID).
    EventId
);
string_id!(
    /// chatdeploy's own ID for one release, stable across restarts.
    DeploymentId
);
string_id!(
    /// The backend's ID for one execution (SSM: the `AutomationExecutionId`).
    ExecutionId
);

/// Someone named in the configuration: a single user or a user group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// One user.
    User(UserId),
    /// Every member of a user group (resolved through the chat surface).
    Group(GroupId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "{id}"),
            Self::Group(id) => write!(f, "{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = UserId::new("U012AB3CD");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""U012AB3CD""#);
        let back: UserId = serde_json::from_str(r#""U012AB3CD""#).unwrap();
        assert_eq!(back, id);
        let escaped: ChannelId = serde_json::from_str(r#""C\u0030X""#).unwrap();
        assert_eq!(escaped.as_str(), "C0X");
        let owned: MessageId = serde_json::from_value(serde_json::json!("1.2")).unwrap();
        assert_eq!(owned.as_str(), "1.2");
        assert!(serde_json::from_str::<EventId>("42").is_err());
    }
}
