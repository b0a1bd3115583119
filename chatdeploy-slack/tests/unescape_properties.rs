//! Properties of undoing Slack's text escaping: it never panics nor grows
//! the text, undoes every construct Slack sends, leaves plain text alone,
//! keeps mentions as immutable IDs (never labels), and what Slack does to a
//! command does not change what the core parser makes of it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::borrow::Cow;

use chatdeploy_core::{ParseCommandError, parse};
use chatdeploy_slack::inbound::unescape;
use proptest::prelude::*;
use proptest::sample::select;

/// A plain word: no `<`, `>` or `&`.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:/@#!|^-]{0,12}"
}

/// A Slack user, channel or group ID.
fn id(prefix: &'static str) -> impl Strategy<Value = String> {
    "[A-Z0-9]{2,10}".prop_map(move |rest| format!("{prefix}{rest}"))
}

/// A display label, distinct from any ID (lowercase).
fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z .'-]{0,12}".prop_filter("no trailing space", |l| !l.ends_with(' '))
}

/// One piece of a message: as Slack sends it, and as the person sees it.
fn piece() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        4 => word().prop_map(|w| (w.clone(), w)),
        1 => (id("U"), proptest::option::of(label()))
            .prop_map(|(id, label)| match label {
                Some(label) => (format!("<@{id}|{label}>"), format!("@{id}")),
                None => (format!("<@{id}>"), format!("@{id}")),
            }),
        1 => (id("C"), proptest::option::of(label()))
            .prop_map(|(id, name)| match name {
                Some(name) => (format!("<#{id}|{name}>"), format!("#{name}")),
                None => (format!("<#{id}>"), format!("#{id}")),
            }),
        1 => (id("S"), proptest::option::of(label()))
            .prop_map(|(id, handle)| match handle {
                Some(handle) => (format!("<!subteam^{id}|@{handle}>"), format!("@{handle}")),
                None => (format!("<!subteam^{id}>"), format!("@{id}")),
            }),
        1 => select(vec!["here", "channel", "everyone"])
            .prop_map(|s| (format!("<!{s}>"), format!("@{s}"))),
        1 => ("[a-z]{1,8}", proptest::option::of(word()))
            .prop_map(|(host, label)| {
                let url = format!("https://{host}.example/a?b=1&amp;c=2");
                let shown = format!("https://{host}.example/a?b=1&c=2");
                match label {
                    Some(label) => (format!("<{url}|{label}>"), label),
                    None => (format!("<{url}>"), shown),
                }
            }),
        1 => select(vec![("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;lt;", "&lt;")])
            .prop_map(|(sent, shown)| (sent.to_owned(), shown.to_owned())),
    ]
}

/// A message that starts with a plain word (so no mention leads it), as
/// Slack sends it and as the person sees it.
fn message() -> impl Strategy<Value = (String, String)> {
    (
        word(),
        proptest::collection::vec((select(vec![" ", "  ", "\t", "\n", ""]), piece()), 0..12),
    )
        .prop_map(|(first, pieces)| {
            let (mut sent, mut shown) = (first.clone(), first);
            for (separator, (s, p)) in pieces {
                sent.push_str(separator);
                sent.push_str(&s);
                shown.push_str(separator);
                shown.push_str(&p);
            }
            (sent, shown)
        })
}

/// Pieces Slack messages are made of, broken ones included.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "<",
            ">",
            "|",
            "@",
            "#",
            "!",
            "^",
            "&",
            ";",
            "&amp;",
            "&lt;",
            "&gt;",
            "&amp;lt;",
            "`",
            "<@U0BOT>",
            "<@U0BOT|deploybot>",
            "<@",
            "<#C1|ops>",
            "<#",
            "<!here>",
            "<!subteam^S1|@sre>",
            "<!subteam^",
            "<!date^1^{x}|y>",
            "<https://x.dev/a|b>",
            "<mailto:a@b.c>",
            "<|>",
            "<>",
            " ",
            "\n",
            "\u{200B}",
            "é",
            "😀",
        ])
        .prop_map(String::from),
        word(),
        any::<char>().prop_map(String::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_nor_grows(text in any::<String>()) {
        prop_assert!(unescape(&text).len() <= text.len());
    }

    #[test]
    fn never_panics_on_fragments(fragments in proptest::collection::vec(fragment(), 0..64)) {
        let text = fragments.concat();
        prop_assert!(unescape(&text).len() <= text.len());
    }

    #[test]
    fn undoes_every_construct((sent, shown) in message()) {
        prop_assert_eq!(unescape(&sent), shown);
    }

    #[test]
    fn leading_mentions_address_the_bot(
        mentions in proptest::collection::vec((id("U"), proptest::option::of(label())), 1..3),
        separator in select(vec![" ", "  ", "\t", "\n", ""]),
        (sent, shown) in message(),
    ) {
        let mut text = String::new();
        for (id, label) in &mentions {
            match label {
                Some(label) => text.push_str(&format!("<@{id}|{label}>")),
                None => text.push_str(&format!("<@{id}>")),
            }
            text.push_str(separator);
        }
        text.push_str(&sent);
        prop_assert_eq!(unescape(&text), shown);
    }

    #[test]
    fn leaves_plain_text_alone(text in "[^<&]*") {
        prop_assert!(matches!(unescape(&text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn mentions_keep_ids_not_labels(
        before in word(),
        user in id("U"),
        label in label(),
        after in word(),
    ) {
        let text = unescape(&format!("{before} <@{user}|{label}> {after}")).into_owned();
        prop_assert_eq!(text, format!("{before} @{user} {after}"));
    }

    #[test]
    fn slack_markup_does_not_change_the_command(
        mention in select(vec!["<@U0BOT> ", "<@U0BOT|deploybot>  ", "<@U0BOT>\n", ""]),
        service in "[a-z][a-z0-9-]{0,8}",
        version in "r-[0-9]{1,2}\\.[0-9]\\.[0-9]",
        ticket in "CHG-[0-9]{1,5}",
        reason in "[a-z]{1,8}( [a-z]{1,8}){0,3}",
    ) {
        let cases = [
            (
                format!("{mention}deploy {service} {version} for <https://jira.example/browse/{ticket}|{ticket}>"),
                format!("deploy {service} {version} for {ticket}"),
            ),
            (
                format!("{mention}reject {service} {reason} &amp; <!here> &lt;3"),
                format!("reject {service} {reason} & @here <3"),
            ),
            (
                format!("{mention}lock {service} see <#C0OPS|ops> ask <@U0ALICE|alice>"),
                format!("lock {service} see #ops ask @U0ALICE"),
            ),
        ];
        for (sent, typed) in cases {
            prop_assert_eq!(parse(&unescape(&sent)), parse(&typed), "{:?}", sent);
            prop_assert!(parse(&typed).is_ok(), "{:?}", typed);
        }
    }
}

#[test]
fn a_bare_mention_is_an_empty_command() {
    for text in [
        "<@U0BOT>",
        "<@U0BOT|deploybot>  <@U0OTHER>",
        "<@U0BOT> ``` ```",
    ] {
        assert_eq!(
            parse(&unescape(text)),
            Err(ParseCommandError::Empty),
            "{text}"
        );
    }
    assert_eq!(
        parse(&unescape("<@U0BOT> RUN  ")),
        Err(ParseCommandError::Empty)
    );
}

#[test]
fn errors_name_the_word_after_the_mention() {
    let error = parse(&unescape("<@U0BOT> statsu app")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`statsu` is not a command. Did you mean `status`? Type `help` to list the commands."
    );
    let error = parse(&unescape("hello <@U0BOT>")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`hello` is not a command. Did you mean `help`? Type `help` to list the commands."
    );
}
