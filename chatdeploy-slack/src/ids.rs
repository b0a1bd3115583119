//! [`SlackIdentities`]: Slack's ID rules for the configuration. People are
//! named by their immutable IDs (`U…`, `W…` on Enterprise Grid), user
//! groups by `S…`, channels that can host commands by `C…` or `G…` —
//! never by display names, which anyone can change.

use chatdeploy_core::chat::IdentityRules;
use chatdeploy_core::{ChannelId, GroupId, Principal, UserId};

/// Slack's user, user-group and channel ID shapes, for
/// [`Catalog::load_with`](chatdeploy_core::Catalog::load_with).
///
/// ```
/// use chatdeploy_core::Catalog;
/// use chatdeploy_slack::SlackIdentities;
///
/// let toml = r##"
///     [chat]
///     deploy_channels = ["#deploys"]
///     [services.app]
///     version_pattern = '^r-\d+$'
///     document = "Deploy-App"
///     approval = "none"
/// "##;
/// let error = Catalog::from_toml_str_with(toml, "chatdeploy.toml", &SlackIdentities).unwrap_err();
/// assert!(error.to_string().contains("use the channel's ID"), "{error}");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackIdentities;

/// Upper-case letters and digits, at least two, starting with one of
/// `first`.
fn shaped(id: &str, first: &[u8]) -> bool {
    id.len() >= 2
        && first.contains(&id.as_bytes()[0])
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl IdentityRules for SlackIdentities {
    fn principal(&self, entry: &str) -> Result<Principal, String> {
        if shaped(entry, b"UW") {
            Ok(Principal::User(UserId::new(entry)))
        } else if shaped(entry, b"S") {
            Ok(Principal::Group(GroupId::new(entry)))
        } else {
            Err(
                "use immutable Slack IDs (U… or W… for users, S… for user groups, from a \
                 profile's \"Copy member ID\"), never display names"
                    .to_owned(),
            )
        }
    }

    fn channel(&self, entry: &str) -> Result<ChannelId, String> {
        if shaped(entry, b"CG") {
            Ok(ChannelId::new(entry))
        } else {
            Err(
                "use the channel's ID (C… or G…, shown in the channel details), not its name"
                    .to_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_shapes() {
        let ids = SlackIdentities;
        assert_eq!(
            ids.principal("U012AB3CD"),
            Ok(Principal::User(UserId::new("U012AB3CD")))
        );
        assert_eq!(
            ids.principal("W012AB3CD"),
            Ok(Principal::User(UserId::new("W012AB3CD")))
        );
        assert_eq!(
            ids.principal("S0DEVS"),
            Ok(Principal::Group(GroupId::new("S0DEVS")))
        );
        for bad in ["alice", "@alice", "C0CHANNEL", "u012", "U", ""] {
            assert!(ids.principal(bad).is_err(), "{bad}");
        }
        assert!(ids.channel("C0PRODDEPLOY").is_ok());
        assert!(ids.channel("G0PRIVATE").is_ok());
        for bad in ["#deploys", "D0DIRECT", "C", "c0lower", "town-square"] {
            assert!(ids.channel(bad).is_err(), "{bad}");
        }
    }
}
