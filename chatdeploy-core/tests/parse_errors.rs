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
        ("<@U0BOT>", EMPTY),
        ("<@U0BOT|deploybot>  <@U0OTHER>", EMPTY),
        ("``` ```", EMPTY),
        ("run", EMPTY),
        ("<@U0BOT> RUN  ", EMPTY),
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
            "<@U0BOT> statsu app",
            "`statsu` is not a command. Did you mean `status`? Type `help` to list the commands.",
        ),
        (
            "banana",
            "`banana` is not a command. Type `help` to list the commands.",
        ),
        (
            "hello <@U0BOT>",
            "`hello` is not a command. Did you mean `help`? Type `help` to list the commands.",
        ),
        (
            "ship it <@U0BOT>",
            "`ship` is not a command. Type `help` to list the commands.",
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
