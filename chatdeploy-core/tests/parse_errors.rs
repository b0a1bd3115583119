//! Every error the parser produces, and exactly how it reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use chatdeploy_core::command::MAX_INPUT_BYTES;
use chatdeploy_core::{ParseCommandError, Verb, parse};

/// Asserts each input fails with the given rendered message.
fn assert_messages(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        match parse(input) {
            Ok(command) => failures.push(format!("{input:?}: parsed as {command:?}")),
            Err(error) => {
                let message = error.to_string();
                if message != *expected {
                    failures.push(format!("{input:?}:\n   got: {message}\n  want: {expected}"));
                }
                assert!(!message.contains('\n'), "{message}");
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const EMPTY: &str = "Type a command, for example `deploy app r-99.1.0`, or `help` to list them.";

#[test]
fn empty_input() {
    assert_messages(&[
        ("", EMPTY),
        ("   \t\n ", EMPTY),
        ("\u{00A0}\u{200B}\u{3000}", EMPTY),
        ("``` ```", EMPTY),
        ("\"\" “ ” ‘’", EMPTY),
        ("run", EMPTY),
        (" `RUN`  ", EMPTY),
    ]);
    assert_eq!(parse(" "), Err(ParseCommandError::Empty));
}

#[test]
fn too_long() {
    let long = format!("deploy app {}", "x".repeat(4989));
    assert_eq!(long.len(), 5000);
    assert_eq!(
        parse(&long),
        Err(ParseCommandError::TooLong {
            len: 5000,
            max: MAX_INPUT_BYTES
        })
    );
    assert_messages(&[(
        &long,
        "That message is 5000 bytes; a command is at most 4096, so type just the command.",
    )]);
    // Exactly at the limit is fine.
    let at_limit = format!("lock app {}", "y".repeat(MAX_INPUT_BYTES - 9));
    assert_eq!(at_limit.len(), MAX_INPUT_BYTES);
    assert!(parse(&at_limit).is_ok());
}

#[test]
fn unknown_verbs_with_and_without_suggestion() {
    assert_messages(&[
        (
            "depoly app r-99.1.0",
            "`depoly` is not a command. Did you mean `deploy`? Type `help` to list the commands.",
        ),
        (
            "stauts",
            "`stauts` is not a command. Did you mean `status`? Type `help` to list the commands.",
        ),
        (
            "rollbak app",
            "`rollbak` is not a command. Did you mean `rollback`? Type `help` to list the commands.",
        ),
        (
            "run Aprove d-1",
            "`Aprove` is not a command. Did you mean `approve`? Type `help` to list the commands.",
        ),
        (
            "`statsu` app",
            "`statsu` is not a command. Did you mean `status`? Type `help` to list the commands.",
        ),
        (
            "banana",
            "`banana` is not a command. Type `help` to list the commands.",
        ),
        (
            "hello @deploybot",
            "`hello` is not a command. Did you mean `help`? Type `help` to list the commands.",
        ),
        (
            "ship it",
            "`ship` is not a command. Type `help` to list the commands.",
        ),
        (
            "“deplyo” app",
            "`deplyo` is not a command. Did you mean `deploy`? Type `help` to list the commands.",
        ),
        // Slack's markup is the Slack adapter's to undo, before the parser.
        (
            "<@U0BOT> status",
            "`<@U0BOT>` is not a command. Type `help` to list the commands.",
        ),
    ]);
    assert_eq!(
        parse("DEPOLY"),
        Err(ParseCommandError::UnknownVerb {
            verb: "DEPOLY".into(),
            suggestion: Some(Verb::Deploy)
        })
    );
}

/// Command words typed with a look-alike character:
/// `input | the word echoed | the look-alike | the plain character | the word meant`.
const LOOKALIKES: [&str; 15] = [
    "d\u{0435}ploy app r-99.1.0 | d\u{0435}ploy | Cyrillic \u{0435} | e | deploy",
    "D\u{0415}PLOY app r-99.1.0 | D\u{0415}PLOY | Cyrillic \u{0415} | E | deploy",
    "r\u{03BF}llback app | r\u{03BF}llback | Greek \u{03BF} | o | rollback",
    "\u{0441}ancel app | \u{0441}ancel | Cyrillic \u{0441} | c | cancel",
    "run \u{0430}pprove d-1 | \u{0430}pprove | Cyrillic \u{0430} | a | approve",
    "ＳＴＡＴＵＳ | ＳＴＡＴＵＳ | fullwidth Ｓ | S | status",
    "𝐡𝐞𝐥𝐩 | 𝐡𝐞𝐥𝐩 | mathematical 𝐡 | h | help",
    "hist\u{043E}ry app | hist\u{043E}ry | Cyrillic \u{043E} | o | history",
    "l\u{0585}ck app | l\u{0585}ck | Armenian \u{0585} | o | lock",
    "help d\u{0435}ploy | d\u{0435}ploy | Cyrillic \u{0435} | e | deploy",
    "“d\u{0435}ploy” app r-1 | d\u{0435}ploy | Cyrillic \u{0435} | e | deploy",
    "r\u{057D}n deploy app r-1 | r\u{057D}n | Armenian \u{057D} | u | run",
    "deploy app r-1 t\u{043E} prod | t\u{043E} | Cyrillic \u{043E} | o | to",
    "deploy app r-1 to x f\u{03BF}r CHG-1 | f\u{03BF}r | Greek \u{03BF} | o | for",
    "rollback app \u{0422}O r-1 | \u{0422}O | Cyrillic \u{0422} | T | to",
];

#[test]
fn command_words_with_lookalike_characters() {
    let cases: Vec<(String, String)> = LOOKALIKES
        .iter()
        .map(|row| {
            let [input, word, found, plain, intended] = row
                .split(" | ")
                .collect::<Vec<_>>()
                .try_into()
                .expect("five columns");
            let code = u32::from(found.chars().last().expect("a character"));
            let message = format!(
                "`{word}` contains a look-alike character ({found}, U+{code:04X}) where `{plain}` belongs; type `{intended}` with plain letters."
            );
            (input.to_owned(), message)
        })
        .collect();
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_messages(&cases);

    // The sentence in full, once.
    assert_messages(&[(
        "d\u{0435}ploy app r-99.1.0",
        "`d\u{0435}ploy` contains a look-alike character (Cyrillic \u{0435}, U+0435) where `e` belongs; type `deploy` with plain letters.",
    )]);
    let error = parse("d\u{0435}ploy app").unwrap_err();
    let ParseCommandError::Lookalike {
        word,
        intended,
        lookalike,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!((word.as_str(), *intended), ("d\u{0435}ploy", "deploy"));
    assert_eq!((lookalike.found, lookalike.plain), ('\u{0435}', 'e'));
    assert_eq!(error.verb(), None);
}

#[test]
fn lookalikes_with_a_typo_are_unknown_words() {
    assert_messages(&[
        (
            "d\u{0435}plyo app",
            "`d\u{0435}plyo` is not a command. Type `help` to list the commands.",
        ),
        (
            "d\u{0436}ploy app",
            "`d\u{0436}ploy` is not a command. Did you mean `deploy`? Type `help` to list the commands.",
        ),
        (
            "deploy app r-1 t\u{0436} prod",
            "`deploy` does not take `t\u{0436}`: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
    ]);
    // Values are the catalog's to check: a look-alike in a version is kept.
    assert!(parse("deploy app r-1.\u{FF10}").is_ok());
}

#[test]
fn unknown_verb_is_truncated() {
    let word = "ü".repeat(100);
    let message = parse(&word).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "`{}…` is not a command. Type `help` to list the commands.",
            "ü".repeat(40)
        )
    );
}

#[test]
fn missing_arguments_per_verb() {
    assert_messages(&[
        (
            "deploy",
            "`deploy` needs a service: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "deploy app",
            "`deploy` needs a version: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "deploy app r-1 to",
            "`deploy` needs an environment: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "deploy app r-1 to prod FOR",
            "`deploy` needs a ticket: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "rollback",
            "`rollback` needs a service: type `rollback <service> [to <version>]`.",
        ),
        (
            "rollback app to",
            "`rollback` needs a version: type `rollback <service> [to <version>]`.",
        ),
        (
            "cancel",
            "`cancel` needs a service or deployment id: type `cancel <service or deployment id>`.",
        ),
        (
            "approve",
            "`approve` needs a service or deployment id: type `approve <service or deployment id>`.",
        ),
        (
            "reject",
            "`reject` needs a service or deployment id: type `reject <service or deployment id> [reason]`.",
        ),
        (
            "lock",
            "`lock` needs a service: type `lock <service> [reason]`.",
        ),
        (
            "unlock",
            "`unlock` needs a service: type `unlock <service>`.",
        ),
        (
            "history",
            "`history` needs a service: type `history <service> [n]`.",
        ),
        (
            "runbook",
            "`runbook` needs a service: type `runbook <service>`.",
        ),
    ]);
    let error = parse("deploy app").unwrap_err();
    assert_eq!(
        error,
        ParseCommandError::MissingArgument {
            verb: Verb::Deploy,
            argument: "version"
        }
    );
    assert_eq!(error.usage(), Some(Verb::Deploy.usage()));
}

#[test]
fn unexpected_arguments_per_verb() {
    assert_messages(&[
        (
            "deploy app r-1 staging",
            "`deploy` does not take `staging`: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "deploy app r-1 to staging to prod",
            "`deploy` does not take `to prod`: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "deploy app r-1 for CHG-1 for",
            "`deploy` does not take `for`: type `deploy <service> <version> [to <env>] [for <ticket>]`.",
        ),
        (
            "rollback app to r-1 now",
            "`rollback` does not take `now`: type `rollback <service> [to <version>]`.",
        ),
        (
            "rollback app r-1 r-2",
            "`rollback` does not take `r-2`: type `rollback <service> [to <version>]`.",
        ),
        (
            "cancel app now",
            "`cancel` does not take `now`: type `cancel <service or deployment id>`.",
        ),
        (
            "approve d-1 please",
            "`approve` does not take `please`: type `approve <service or deployment id>`.",
        ),
        (
            "unlock app now",
            "`unlock` does not take `now`: type `unlock <service>`.",
        ),
        (
            "status app extra",
            "`status` does not take `extra`: type `status [service]`.",
        ),
        (
            "history app 5 more",
            "`history` does not take `more`: type `history <service> [n]`.",
        ),
        (
            "services app",
            "`services` does not take `app`: type `services`.",
        ),
        (
            "runbook app please",
            "`runbook` does not take `please`: type `runbook <service>`.",
        ),
        (
            "help deploy now",
            "`help` does not take `now`: type `help [command]`.",
        ),
    ]);
    // reject and lock take any number of words as the reason.
    assert!(parse("reject d-1 to for run deploy").is_ok());
    assert!(parse("lock app to for the freeze").is_ok());
}

#[test]
fn unexpected_argument_is_truncated() {
    let blob = "z".repeat(3000);
    assert_eq!(
        parse(&format!("status app {blob}")),
        Err(ParseCommandError::UnexpectedArgument {
            verb: Verb::Status,
            argument: format!("{}…", "z".repeat(40)),
        })
    );
}

#[test]
fn invalid_history_limit() {
    let message = |value: &str| {
        format!(
            "`history` takes a number from 1 to 100 as n, not `{value}`: type `history <service> [n]`."
        )
    };
    let cases: Vec<(String, String)> = ["abc", "0", "101", "-1", "4294967296", "1.5"]
        .into_iter()
        .map(|n| (format!("history app {n}"), message(n)))
        .collect();
    let cases: Vec<(&str, &str)> = cases
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_messages(&cases);
    assert_eq!(
        parse("history app abc"),
        Err(ParseCommandError::InvalidArgument {
            verb: Verb::History,
            argument: "n",
            value: "abc".into(),
            expected: "a number from 1 to 100",
        })
    );
    assert!(parse("history app 1").is_ok());
    assert!(parse("history app 100").is_ok());
}

#[test]
fn unknown_help_topic() {
    assert_messages(&[
        (
            "help depoly",
            "`depoly` is not a command. Did you mean `deploy`? Type `help` to list the commands.",
        ),
        (
            "help banana",
            "`banana` is not a command. Type `help` to list the commands.",
        ),
    ]);
}

#[test]
fn usage_only_for_recognised_verbs() {
    assert_eq!(ParseCommandError::Empty.usage(), None);
    assert_eq!(parse("banana").unwrap_err().usage(), None);
    assert_eq!(
        parse("status a b").unwrap_err().usage(),
        Some("status [service]")
    );
    assert_eq!(
        parse("history a x").unwrap_err().verb(),
        Some(Verb::History)
    );
}
