//! Properties of the parser: it never panics, `Display` and `parse` round
//! trip, and what chat clients and people add around a command (`run`, case,
//! backticks and code fences, odd and zero-width spaces) does not change
//! what it means. Quotes around arguments are `parse_quotes.rs`'s; undoing
//! Slack's own markup is the Slack adapter's, tested there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::{Command, Verb, parse};
use proptest::prelude::*;
use proptest::sample::select;

mod parse_strategies;

use parse_strategies::{command, word};

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
    fn display_is_plain_for_plain_values(command in command()) {
        let text = command.to_string();
        prop_assert!(!text.contains(['"', '\'', '«', '‹']), "{:?}", text);
    }

    #[test]
    fn decorations_do_not_change_the_command(command in command(), d in decoration()) {
        let text = decorate(&command, &d);
        prop_assert_eq!(parse(&text), Ok(command), "decorated: {:?}", text);
    }

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
