//! Whatever a person (or a backend) supplied, rendered for Slack it never
//! becomes a mention, a link or a broadcast: the only `<…>` constructs in
//! the Block Kit JSON are the spans chatdeploy put there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::chat::{Message, Text};
use chatdeploy_core::{ChannelId, UserId};
use chatdeploy_slack::{blocks, mrkdwn};
use proptest::prelude::*;

/// Every `<…>` construct of a mrkdwn string.
fn constructs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>').map_or(after.len(), |c| c);
        out.push(after[..close].to_owned());
        rest = &after[close.min(after.len())..];
    }
    out
}

/// Undoes Slack's three escapes, as Slack shows the text.
fn shown(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Strings made of what Slack markup is made of.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "<",
        ">",
        "&",
        "|",
        "@",
        "!",
        "#",
        "^",
        "*",
        "_",
        "~",
        "`",
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0EVE>",
        "<#C0X>",
        "<!subteam^S1>",
        "<https://evil.example|approve>",
        "&lt;",
        "&amp;lt;",
        "https://evil.example",
        " ",
        "\n",
        "é",
        "👍",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn supplied_text_is_inert(supplied in hostile(), other in ".{0,40}") {
        for text in [Text::from_user(supplied.clone()), Text::plain(supplied.clone())] {
            let rendered = mrkdwn::render(&text);
            prop_assert!(constructs(&rendered).is_empty(), "{rendered}");
            prop_assert_eq!(shown(&rendered), supplied.clone());
        }
        // Beside a real mention, the mention is the only construct.
        let text = Text::plain("by ")
            .user(UserId::new("U0BOB"))
            .and(": ")
            .user_text(supplied.clone())
            .and(" in ")
            .channel(ChannelId::new("C0DEPLOY"))
            .user_text(other);
        let message = Message::text(text.clone())
            .with_field("Reason", text.clone())
            .with_detail(text);
        let json = blocks::render(&message).to_json();
        let mut texts = vec![json["text"].as_str().unwrap().to_owned()];
        collect(&json["blocks"], &mut texts);
        for rendered in texts {
            prop_assert_eq!(constructs(&rendered), vec!["@U0BOB".to_owned(), "#C0DEPLOY".to_owned()], "{}", rendered);
        }
    }

    #[test]
    fn link_urls_and_labels_cannot_break_out(label in hostile(), url in hostile()) {
        let rendered = mrkdwn::render(&Text::new().link(label, format!("https://x.example/{url}")));
        let found = constructs(&rendered);
        prop_assert_eq!(found.len(), 1, "{}", rendered);
        // Slack splits at the first `|`: the URL is ours, whole.
        let (target, _label) = found[0].split_once('|').unwrap();
        prop_assert!(target.starts_with("https://x.example/"), "{}", rendered);
        prop_assert!(!target.contains(' '), "{}", rendered);
    }
}

fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("mrkdwn") {
                assert_eq!(map.get("verbatim"), Some(&serde_json::Value::Bool(true)));
                out.push(map["text"].as_str().unwrap().to_owned());
            }
            map.values().for_each(|v| collect(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}
