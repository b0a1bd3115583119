//! Properties of the parser: it never panics, `Display` and `parse` round
//! trip (values with spaces and quotes included), and what chat clients and
//! people add around a command (`run`, case, backticks and code fences, odd
//! and zero-width spaces, quotes around arguments) does not change what it
//! means. Undoing Slack's own markup is the Slack adapter's, tested there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::{Command, Verb, parse};
use proptest::prelude::*;
use proptest::sample::select;

/// A plain word: a service, version, target, environment or ticket. Never a
/// keyword, so it can stand anywhere.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:/-]{0,15}".prop_filter("not a keyword", |w| {
        !["run", "to", "for"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}

/// A free-text reason: words (keywords included) joined by single spaces.
fn reason() -> impl Strategy<Value = String> {
    let any_word = prop_oneof![
        4 => word(),
        1 => select(vec!["to", "for", "run", "TO", "deploy"]).prop_map(String::from),
    ];
    proptest::collection::vec(any_word, 1..8).prop_map(|words| words.join(" "))
}

/// Every variant of [`Command`], with every optional part present or not.
fn command() -> impl Strategy<Value = Command> {
    let verb = select(Verb::ALL.to_vec());
    prop_oneof![
        (
            word(),
            word(),
            proptest::option::of(word()),
            proptest::option::of(word())
        )
            .prop_map(|(service, version, environment, ticket)| Command::Deploy {
                service,
                version,
                environment,
                ticket,
            }),
        (word(), proptest::option::of(word()))
            .prop_map(|(service, version)| Command::Rollback { service, version }),
        word().prop_map(|target| Command::Cancel { target }),
        word().prop_map(|target| Command::Approve { target }),
        (word(), proptest::option::of(reason()))
            .prop_map(|(target, reason)| Command::Reject { target, reason }),
        (word(), proptest::option::of(reason()))
            .prop_map(|(service, reason)| Command::Lock { service, reason }),
        word().prop_map(|service| Command::Unlock { service }),
        proptest::option::of(word()).prop_map(|service| Command::Status { service }),
        (word(), proptest::option::of(1u32..=100))
            .prop_map(|(service, limit)| Command::History { service, limit }),
        Just(Command::Services),
        word().prop_map(|service| Command::Runbook { service }),
        proptest::option::of(verb).prop_map(|topic| Command::Help { topic }),
    ]
}

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

/// Pieces of messages, markup and quotes included, to stress the parser.
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
            "```",
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
            "\t",
            "\n",
            "\u{00A0}",
            "\u{200B}",
            "\u{FEFF}",
            "\u{2018}",
            "\u{201D}",
            "\"",
            "'",
            "“",
            "«",
            "»",
            "\"\"",
            "\u{0435}",
            "\u{FF21}",
            "\u{1D41D}",
            "run",
            "deploy",
            "to",
            "for",
            "history",
            "help",
            "reject",
            "100",
            "0",
            "é",
            "😀",
        ])
        .prop_map(String::from),
        word(),
        any::<char>().prop_map(String::from),
    ]
}

/// One way of writing a command in a chat: `run`, formatting, spacing and
/// case.
#[derive(Debug, Clone)]
struct Decoration {
    run: Option<&'static str>,
    fence: bool,
    backticks: Vec<bool>,
    separators: Vec<&'static str>,
    zero_width: Vec<Option<(usize, &'static str)>>,
    upper: Vec<bool>,
}

const SLOTS: usize = 16;

fn decoration() -> impl Strategy<Value = Decoration> {
    let separator = select(vec![
        " ",
        " ",
        "  ",
        "\t",
        "\n",
        " \n\t ",
        "\r\n",
        "\u{00A0}",
        "\u{2007}",
        "\u{202F}",
        " \u{200B}",
        "\u{3000}",
        "\u{2028}",
    ]);
    let zero_width = proptest::option::weighted(
        0.3,
        (
            0usize..20,
            select(vec![
                "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}",
            ]),
        ),
    );
    (
        proptest::option::of(select(vec!["run", "RUN", "Run", "rUn"])),
        any::<bool>(),
        proptest::collection::vec(proptest::bool::weighted(0.3), SLOTS),
        proptest::collection::vec(separator, SLOTS + 1),
        proptest::collection::vec(zero_width, SLOTS),
        proptest::collection::vec(any::<bool>(), 32),
    )
        .prop_map(
            |(run, fence, backticks, separators, zero_width, upper)| Decoration {
                run,
                fence,
                backticks,
                separators,
                zero_width,
                upper,
            },
        )
}

/// `word` with the case of each letter flipped where `upper` says so.
fn recase(word: &str, upper: &[bool]) -> String {
    word.chars()
        .zip(upper.iter().cycle())
        .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// The canonical text of `command`, decorated as `d` says.
fn decorate(command: &Command, d: &Decoration) -> String {
    let canonical = command.to_string();
    let keywords_at_any_position =
        matches!(command, Command::Deploy { .. } | Command::Rollback { .. });
    let mut words: Vec<String> = Vec::new();
    if let Some(run) = d.run {
        words.push(run.to_owned());
    }
    for (i, word) in canonical.split(' ').enumerate() {
        let is_keyword = keywords_at_any_position && (word == "to" || word == "for");
        let mut word = if i == 0 || is_keyword {
            recase(word, &d.upper[i..])
        } else {
            word.to_owned()
        };
        let slot = words.len() % SLOTS;
        if let Some((at, zw)) = d.zero_width[slot] {
            // Words are ASCII, so every index is a char boundary.
            word.insert_str(at % (word.len() + 1), zw);
        }
        if d.backticks[slot] {
            word = format!("`{word}`");
        }
        words.push(word);
    }
    let mut text = String::from(d.separators[SLOTS]);
    if d.fence {
        text.push_str("```");
    }
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            text.push_str(d.separators[i % SLOTS]);
        }
        text.push_str(word);
    }
    if d.fence {
        text.push_str("```");
    }
    text
}

/// Errors are one line and never echo much of the input.
fn check_error_rendering(text: &str) {
    if let Err(error) = parse(text) {
        let message = error.to_string();
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.chars().count() <= 250, "{message:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_string(text in any::<String>()) {
        check_error_rendering(&text);
    }

    #[test]
    fn never_panics_on_printable_unicode(text in "\\PC*") {
        check_error_rendering(&text);
    }

    #[test]
    fn never_panics_on_fragments(
        fragments in proptest::collection::vec(fragment(), 0..64),
    ) {
        check_error_rendering(&fragments.concat());
    }

    #[test]
    fn never_panics_after_a_verb(
        verb in select(Verb::ALL.to_vec()),
        fragments in proptest::collection::vec(fragment(), 0..24),
    ) {
        check_error_rendering(&format!("{verb} {}", fragments.concat()));
        check_error_rendering(&format!("run {verb}{}", fragments.join(" ")));
    }

    #[test]
    fn display_round_trips(command in command()) {
        prop_assert_eq!(parse(&command.to_string()), Ok(command));
    }

    #[test]
    fn display_round_trips_with_spaces_and_quotes_in_values(command in loose_command()) {
        let text = command.to_string();
        prop_assert_eq!(parse(&text), Ok(command), "displayed: {:?}", text);
    }

    #[test]
    fn display_is_plain_for_plain_values(command in command()) {
        let text = command.to_string();
        prop_assert!(!text.contains(['"', '\'', '«', '‹']), "{:?}", text);
    }

    #[test]
    fn decorations_do_not_change_the_command(command in command(), d in decoration()) {
        let text = decorate(&command, &d);
        prop_assert_eq!(parse(&text), Ok(command), "decorated: {:?}", text);
    }

    #[test]
    fn quoted_arguments_are_the_arguments(
        command in command(),
        pairs in proptest::collection::vec(select(QUOTES.to_vec()), 1..8),
        d in decoration(),
    ) {
        let quoted = quote_arguments(&command, &pairs);
        prop_assert_eq!(parse(&quoted), Ok(command.clone()), "quoted: {:?}", quoted);
        // Formatting around the quotes changes nothing either.
        let decorated = decorate_text(&quoted, &d);
        prop_assert_eq!(parse(&decorated), Ok(command), "decorated: {:?}", decorated);
    }
}

/// `text` in a code fence, with `run` in front and zero-width characters at
/// the ends, as a client may send it.
fn decorate_text(text: &str, d: &Decoration) -> String {
    let mut out = String::new();
    if d.fence {
        out.push_str("```");
    }
    if let Some(run) = d.run {
        out.push_str(run);
        out.push_str(d.separators[0]);
    }
    if let Some((_, zw)) = d.zero_width[0] {
        out.push_str(zw);
    }
    out.push_str(text);
    if let Some((_, zw)) = d.zero_width[1] {
        out.push_str(zw);
    }
    if d.fence {
        out.push_str("```");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_long_input(
        chunk in proptest::collection::vec(any::<char>(), 0..2048),
        repeat in 1usize..=32,
        tail in proptest::collection::vec(any::<char>(), 0..2048),
    ) {
        // Up to 64 Ki characters (over 64 KiB), without generating each one.
        let chunk: String = chunk.into_iter().collect();
        let mut text = chunk.repeat(repeat);
        text.extend(tail);
        check_error_rendering(&text);
    }

    #[test]
    fn never_panics_near_the_size_limit(
        filler in proptest::collection::vec(fragment(), 0..200),
        repeat in 1usize..=24,
    ) {
        let text = format!("reject d-1 {}", filler.concat().repeat(repeat));
        check_error_rendering(&text);
    }
}

#[test]
fn decorate_produces_chat_style_text() {
    let command = Command::Deploy {
        service: "app".into(),
        version: "r-1".into(),
        environment: Some("prod".into()),
        ticket: None,
    };
    let d = Decoration {
        run: Some("RUN"),
        fence: true,
        backticks: vec![
            false, true, false, true, false, false, false, false, false, false, false, false,
            false, false, false, false,
        ],
        separators: vec!["\u{00A0}"; SLOTS + 1],
        zero_width: vec![
            None,
            None,
            Some((1, "\u{200B}")),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ],
        upper: vec![
            true, false, true, false, true, false, true, false, true, false, true, false, true,
            false, true, false, true, false, true, false, true, false, true, false, true, false,
            true, false, true, false, true, false,
        ],
    };
    let text = decorate(&command, &d);
    assert_eq!(
        text,
        "\u{00A0}```RUN\u{00A0}`DePlOy`\u{00A0}a\u{200B}pp\u{00A0}`r-1`\u{00A0}tO\u{00A0}prod```"
    );
    assert_eq!(parse(&text), Ok(command));
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
