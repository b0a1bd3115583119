//! `parse` over a mix of realistic inputs, quotes, code formatting, odd
//! spaces and errors included.
//!
//! Run with `cargo bench -p chatdeploy-core --bench parse`; the time per
//! command is the reported time divided by the number of inputs (the
//! throughput line counts commands per second).

use std::hint::black_box;

use chatdeploy_core::parse;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What people type, as a chat surface hands it over (Slack's escaping
/// already undone by the Slack adapter).
const INPUTS: [&str; 12] = [
    "deploy app r-99.1.0",
    "run deploy api r-99.1.0 to staging for CHG-1234",
    "`rollback` app to `r-98.0.0`",
    "approve d-3f2c9a",
    "reject app “broken & flaky build”",
    "status",
    "history app 10",
    "lock\u{00A0}ui freeze for CHG-9 until Friday",
    "help deploy",
    "depoly app r-99.1.0",
    "Deploy app \"r-99.1.0\" to prod",
    "d\u{0435}ploy app r-99.1.0",
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
