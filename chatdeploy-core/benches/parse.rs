//! `parse` over a mix of realistic inputs, Slack escaping and errors included.
//!
//! Run with `cargo bench -p chatdeploy-core --bench parse`; the time per
//! command is the reported time divided by the number of inputs (the
//! throughput line counts commands per second).

use std::hint::black_box;

use chatdeploy_core::parse;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What people type, as Slack delivers it.
const INPUTS: [&str; 12] = [
    "<@U0BOT> deploy app r-99.1.0",
    "run deploy api r-99.1.0 to staging for CHG-1234",
    "`rollback` app to `r-98.0.0`",
    "approve d-3f2c9a",
    "reject app broken &amp; flaky build",
    "status",
    "history app 10",
    "<@U0BOT|deploybot> lock ui freeze for <https://jira.acme.dev/browse/CHG-9|CHG-9>",
    "help deploy",
    "depoly app r-99.1.0",
    "<@U0BOT> Deploy app r-99.1.0 to prod",
    "cancel app",
];

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(INPUTS.len() as u64));
    group.bench_function("mix", |b| {
        b.iter(|| {
            for input in INPUTS {
                let _ = black_box(parse(black_box(input)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
