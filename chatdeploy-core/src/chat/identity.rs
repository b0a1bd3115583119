//! The [`IdentityRules`] trait: how a chat surface names users, user groups
//! and channels. Core treats IDs as opaque; the catalog asks the surface's
//! rules at load, so that a malformed ID is refused with its line and
//! column, in the surface's own words.

use std::sync::Arc;

use crate::ids::{ChannelId, GroupId, Principal, UserId};

/// What a chat surface accepts as IDs in the configuration.
pub trait IdentityRules: Send + Sync {
    /// Reads one entry of a `deployers` or `approvers` list: a user or a
    /// user group.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong with `entry` and what to write
    /// instead, without the entry itself (the caller quotes it).
    fn principal(&self, entry: &str) -> Result<Principal, String>;

    /// Reads one `deploy_channels` entry.
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong with `entry` and what to write
    /// instead, without the entry itself.
    fn channel(&self, entry: &str) -> Result<ChannelId, String>;
}

/// Opaque IDs, for surfaces without ID rules of their own (a terminal, a
/// test): any single word names a user or a channel; `group:<name>` names a
/// user group.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpaqueIdentities;

/// The prefix that marks a user group among opaque principals.
const GROUP_PREFIX: &str = "group:";

fn word(entry: &str) -> Result<&str, String> {
    if entry.is_empty() {
        return Err("it is empty; write an ID".to_owned());
    }
    if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces; write one word".to_owned());
    }
    Ok(entry)
}

impl IdentityRules for OpaqueIdentities {
    fn principal(&self, entry: &str) -> Result<Principal, String> {
        match word(entry)?.strip_prefix(GROUP_PREFIX) {
            Some("") => Err("it names no group; write group:<name>".to_owned()),
            Some(_) => Ok(Principal::Group(GroupId::new(entry))),
            None => Ok(Principal::User(UserId::new(entry))),
        }
    }

    fn channel(&self, entry: &str) -> Result<ChannelId, String> {
        word(entry).map(ChannelId::new)
    }
}

macro_rules! forward_identity_rules {
    ($ptr:ty) => {
        impl<T: IdentityRules + ?Sized> IdentityRules for $ptr {
            fn principal(&self, entry: &str) -> Result<Principal, String> {
                (**self).principal(entry)
            }
            fn channel(&self, entry: &str) -> Result<ChannelId, String> {
                (**self).channel(entry)
            }
        }
    };
}
forward_identity_rules!(Arc<T>);
forward_identity_rules!(Box<T>);
forward_identity_rules!(&T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_ids_are_words_and_groups_are_marked() {
        let rules = OpaqueIdentities;
        assert_eq!(
            rules.principal("alice"),
            Ok(Principal::User(UserId::new("alice")))
        );
        assert_eq!(
            rules.principal("group:frontend"),
            Ok(Principal::Group(GroupId::new("group:frontend")))
        );
        assert!(rules.principal("group:").is_err());
        assert!(rules.principal("two words").is_err());
        assert!(rules.principal("").is_err());
        assert_eq!(
            rules.channel("town-square"),
            Ok(ChannelId::new("town-square"))
        );
        assert!(rules.channel("").is_err());
    }
}
