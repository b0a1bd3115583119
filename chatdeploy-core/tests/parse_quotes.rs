//! Arguments in quotes: straight or typographic quotes around an argument
//! leave the argument, a quoted reason keeps its spaces, and `Display` quotes
//! values so that `parse(&command.to_string()) == Ok(command)` for every
//! command `parse` returns, spaces and quotes in values included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::{Command, parse};
use proptest::prelude::*;
use proptest::sample::select;

mod parse_strategies;

use parse_strategies::command;

/// A value `parse` can return for an argument typed in quotes: any text
/// without surrounding whitespace, with spaces, tabs, newlines and quotes
/// inside. (Backticks, zero-width and non-breaking spaces never reach a
/// value: they are formatting. Single guillemets are left out so that one
/// kind of quote is always free to write the value in.)
fn loose_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.:-]{0,4}([ \t\n\"“”„'‘’«»]{1,3}[A-Za-z0-9.:-]{0,4}){0,4}"
        .prop_map(|v| v.trim().to_owned())
        .prop_filter("not empty", |v| !v.is_empty())
}

/// Every variant of [`Command`], with values and reasons that only a quoted
/// argument produces.
fn loose_command() -> impl Strategy<Value = Command> {
    let value = loose_value;
    prop_oneof![
        (
            value(),
            value(),
            proptest::option::of(value()),
            proptest::option::of(value())
        )
            .prop_map(|(service, version, environment, ticket)| Command::Deploy {
                service,
                version,
                environment,
                ticket,
            }),
        (value(), proptest::option::of(value()))
            .prop_map(|(service, version)| Command::Rollback { service, version }),
        value().prop_map(|target| Command::Cancel { target }),
        (value(), proptest::option::of(value()))
            .prop_map(|(target, reason)| Command::Reject { target, reason }),
        (value(), proptest::option::of(value()))
            .prop_map(|(service, reason)| Command::Lock { service, reason }),
        proptest::option::of(value()).prop_map(|service| Command::Status { service }),
        (value(), proptest::option::of(1u32..=100))
            .prop_map(|(service, limit)| Command::History { service, limit }),
    ]
}

/// Quote pairs people type around an argument.
const QUOTES: [(&str, &str); 10] = [
    ("\"", "\""),
    ("“", "”"),
    ("”", "”"),
    ("„", "“"),
    ("'", "'"),
    ("‘", "’"),
    ("«", "»"),
    ("« ", " »"),
    ("»", "«"),
    ("‹", "›"),
];

/// `command`'s canonical text with every argument in quotes: each value,
/// and a reason as a whole; the verb and the keywords `to` and `for` bare.
fn quote_arguments(command: &Command, pairs: &[(&str, &str)]) -> String {
    let canonical = command.to_string();
    let mut pairs = pairs.iter().cycle();
    let mut quote = |text: &str| {
        let (open, close) = pairs.next().copied().unwrap_or(("\"", "\""));
        format!("{open}{text}{close}")
    };
    let words: Vec<&str> = canonical.split(' ').collect();
    let with_reason = matches!(command, Command::Reject { .. } | Command::Lock { .. });
    if with_reason {
        let mut text = format!("{} {}", words[0], quote(words[1]));
        if words.len() > 2 {
            text.push(' ');
            text.push_str(&quote(&words[2..].join(" ")));
        }
        return text;
    }
    let keywords = matches!(command, Command::Deploy { .. } | Command::Rollback { .. });
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            if i == 0 || (keywords && (*word == "to" || *word == "for")) {
                (*word).to_owned()
            } else {
                quote(word)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How a client may wrap a command: a code fence, `run` in front,
/// zero-width characters at the ends.
fn wrapping() -> impl Strategy<Value = (bool, Option<&'static str>, Option<&'static str>)> {
    (
        any::<bool>(),
        proptest::option::of(select(vec!["run ", "RUN\u{00A0}", "Run\n"])),
        proptest::option::of(select(vec!["\u{200B}", "\u{FEFF}", "\u{2060}"])),
    )
}

/// `text` wrapped as [`wrapping`] says.
fn wrap(text: &str, (fence, run, zero_width): (bool, Option<&str>, Option<&str>)) -> String {
    let fence = if fence { "```" } else { "" };
    let zero_width = zero_width.unwrap_or_default();
    format!(
        "{fence}{}{zero_width}{text}{zero_width}{fence}",
        run.unwrap_or_default()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn display_round_trips_with_spaces_and_quotes_in_values(command in loose_command()) {
        let text = command.to_string();
        prop_assert_eq!(parse(&text), Ok(command), "displayed: {:?}", text);
    }

    #[test]
    fn quoted_arguments_are_the_arguments(
        command in command(),
        pairs in proptest::collection::vec(select(QUOTES.to_vec()), 1..8),
        wrapping in wrapping(),
    ) {
        let quoted = quote_arguments(&command, &pairs);
        prop_assert_eq!(parse(&quoted), Ok(command.clone()), "quoted: {:?}", quoted);
        // Formatting around the quotes changes nothing either.
        let decorated = wrap(&quoted, wrapping);
        prop_assert_eq!(parse(&decorated), Ok(command), "decorated: {:?}", decorated);
    }
}

#[test]
fn quote_arguments_quotes_values_and_whole_reasons() {
    let deploy = Command::Deploy {
        service: "app".into(),
        version: "r-1".into(),
        environment: Some("prod".into()),
        ticket: None,
    };
    assert_eq!(
        quote_arguments(&deploy, &[("“", "”"), ("'", "'")]),
        "deploy “app” 'r-1' to “prod”"
    );
    let reject = Command::Reject {
        target: "d-1".into(),
        reason: Some("too risky to ship".into()),
    };
    let quoted = quote_arguments(&reject, &[("«", "»")]);
    assert_eq!(quoted, "reject «d-1» «too risky to ship»");
    assert_eq!(parse(&quoted), Ok(reject));
}

#[test]
fn what_a_person_means_by_quotes() {
    let deploy = |version: &str| Command::Deploy {
        service: "app".into(),
        version: version.into(),
        environment: None,
        ticket: None,
    };
    for text in [
        "deploy app \"r-99.1.0\"",
        "deploy app “r-99.1.0”",
        "deploy app ‘r-99.1.0’",
        "deploy app 'r-99.1.0'",
        "deploy app «r-99.1.0»",
        "deploy app `\"r-99.1.0\"`",
    ] {
        assert_eq!(parse(text), Ok(deploy("r-99.1.0")), "{text}");
    }
    // A quoted reason keeps its spaces; quotes inside prose stay.
    assert_eq!(
        parse("reject d-1 “too  risky,\n see CHG-9”"),
        Ok(Command::Reject {
            target: "d-1".into(),
            reason: Some("too  risky,\n see CHG-9".into()),
        })
    );
    assert_eq!(
        parse("lock app   waiting for  \"CHG-12\"   sign-off, don't"),
        Ok(Command::Lock {
            service: "app".into(),
            reason: Some("waiting for \"CHG-12\" sign-off, don't".into()),
        })
    );
    // A quoted keyword is a value.
    assert_eq!(
        parse("rollback app \"to\""),
        Ok(Command::Rollback {
            service: "app".into(),
            version: Some("to".into()),
        })
    );
}
