//! Slack's ID rules in the configuration: users by immutable `U…`/`W…`
//! IDs, user groups by `S…`, channels by `C…`/`G…`, refused otherwise with
//! the file, line and column, and what to write instead.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::catalog::CatalogProblem;
use chatdeploy_core::{Catalog, GroupId, Principal, UserId};
use chatdeploy_slack::SlackIdentities;

const SERVICE: &str = "[services.app]\nversion_pattern = '^r-\\d+$'\ndocument = \"Deploy-App\"\n";

fn load(text: &str) -> Result<Catalog, chatdeploy_core::LoadCatalogError> {
    Catalog::from_toml_str_with(text, "chatdeploy.toml", &SlackIdentities)
}

#[test]
fn the_example_configuration_loads_with_slack_ids() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/chatdeploy.example.toml"
    );
    let catalog = Catalog::load_with(path, &SlackIdentities).unwrap();
    let deployers = catalog.roles().deployers().unwrap();
    assert!(deployers.contains(&Principal::Group(GroupId::new("S0DEVELOPERS"))));
    assert!(deployers.contains(&Principal::User(UserId::new("U0ALICE00"))));
}

#[test]
fn a_channel_name_is_refused_with_its_position() {
    let text = format!("[chat]\ndeploy_channels = [\"C1\", \"#deploys\"]\n{SERVICE}");
    let error = load(&text).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "chatdeploy.toml:2:26: \"#deploys\" in chat.deploy_channels is not a channel ID: \
             use the channel's ID (C… or G…"
        ),
        "{error}"
    );
    assert!(matches!(
        error.problem(),
        Some(CatalogProblem::InvalidChannel { id, .. }) if id == "#deploys"
    ));
}

#[test]
fn display_names_and_channel_ids_are_no_principals() {
    for (entry, column) in [("alice", 21), ("C0CHANNEL", 21), ("@bob", 21)] {
        let text = format!(
            "[chat]\ndeploy_channels = [\"C0DEPLOY\"]\n{SERVICE}approvers = [\"U04\", \"{entry}\"]\n"
        );
        let error = load(&text).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "chatdeploy.toml:6:{column}: \"{entry}\" in services.app.approvers is not a user \
                 or user-group ID: use immutable Slack IDs (U… or W… for users, S… for user groups"
            )),
            "{message}"
        );
    }
}

#[test]
fn users_and_groups_are_told_apart_by_their_prefix() {
    let text = format!(
        "[chat]\ndeploy_channels = [\"G0PRIVATE\"]\n[roles]\ndeployers = [\"U01\", \"W02\", \"S0DEVS\"]\napprovers = [\"U09\"]\n{SERVICE}"
    );
    let catalog = load(&text).unwrap();
    assert_eq!(
        catalog.roles().deployers().unwrap(),
        [
            Principal::User(UserId::new("U01")),
            Principal::User(UserId::new("W02")),
            Principal::Group(GroupId::new("S0DEVS")),
        ]
    );
}
