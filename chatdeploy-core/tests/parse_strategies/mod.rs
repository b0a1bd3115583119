//! Strategies for commands, shared by the parser's property tests.

use chatdeploy_core::{Command, Verb};
use proptest::prelude::*;
use proptest::sample::select;

/// A plain word: a service, version, target, environment or ticket. Never a
/// keyword, so it can stand anywhere.
pub(crate) fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._:/-]{0,15}".prop_filter("not a keyword", |w| {
        !["run", "to", "for"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}

/// A free-text reason: words (keywords included) joined by single spaces.
pub(crate) fn reason() -> impl Strategy<Value = String> {
    let any_word = prop_oneof![
        4 => word(),
        1 => select(vec!["to", "for", "run", "TO", "deploy"]).prop_map(String::from),
    ];
    proptest::collection::vec(any_word, 1..8).prop_map(|words| words.join(" "))
}

/// Every variant of [`Command`], with every optional part present or not.
pub(crate) fn command() -> impl Strategy<Value = Command> {
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
