//! Opening the JSONL audit log with 10^4, 10^6 and 10^7 records already in
//! it: how long `JsonlAuditSink::open` takes and how much memory the
//! process holds after it.
//!
//! For each size the benchmark writes a log of realistic records (~420
//! bytes each, the size users reported: a full `requested` record with
//! command, IDs and a reason) into a fresh directory under the system's
//! temporary directory, then opens it in a child process, so that each
//! measurement's peak RSS (`VmHWM`) is that open's alone. It deletes the
//! log afterwards. 10^7 records take ~4.2 GB of disk for the duration.
//!
//! ```text
//! cargo build --release -p audit-open
//! ./target/release/audit-open [--baseline] [--split] [RECORDS ...]
//! ```
//!
//! - `RECORDS`: the sizes, default `10000 1000000 10000000`.
//! - `--split`: the log as the sink's default rotation leaves it (files of
//!   at most 128 MiB) instead of one file.
//! - `--baseline`: also measure the open of before this change (every ID of
//!   the file read into a `HashSet<String>`; the same code, copied here).
//! - `RUNS` (environment): opens per size and mode, default 11; the table
//!   shows the median time and the largest RSS.

use std::collections::HashSet;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chatdeploy_core::audit::{AuditAction, AuditEvent, JsonlAuditSink};
use chatdeploy_core::{DeploymentId, EventId, ExecutionId, UserId};
use chrono::{DateTime, Utc};

const DEFAULT_SIZES: [u64; 3] = [10_000, 1_000_000, 10_000_000];

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, mode, path] = args.as_slice()
        && flag == "--measure"
    {
        return measure(mode, Path::new(path));
    }
    let baseline = args.iter().any(|a| a == "--baseline");
    let split = args.iter().any(|a| a == "--split");
    let mut sizes: Vec<u64> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.replace('_', "").parse())
        .collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = DEFAULT_SIZES.to_vec();
    }
    let runs: usize = std::env::var("RUNS").map_or(Ok(11), |r| r.parse())?;
    println!(
        "| records | log | open | open time (median of {runs}) | IDs remembered | VmRSS before open | VmRSS after open | peak RSS (VmHWM) |"
    );
    println!("|--:|--:|---|--:|--:|--:|--:|--:|");
    for records in sizes {
        let dir = std::env::temp_dir().join(format!("audit-open-{}-{records}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let result = bench_size(&dir, records, split, baseline, runs);
        std::fs::remove_dir_all(&dir)?;
        result?;
    }
    Ok(())
}

fn bench_size(
    dir: &Path,
    records: u64,
    split: bool,
    baseline: bool,
    runs: usize,
) -> Result<(), Box<dyn Error>> {
    let path = dir.join("audit.jsonl");
    let started = Instant::now();
    let (bytes, files) = generate(&path, records, split)?;
    eprintln!(
        "generated {records} records ({} bytes each on average), {:.0} MB in {files} file(s), in {:.1} s",
        bytes / records.max(1),
        mb(bytes),
        started.elapsed().as_secs_f64()
    );
    let mut modes = vec!["sink"];
    // The old open reads one file; with --split it would see only the last.
    if baseline && !split {
        modes.push("baseline");
    }
    for mode in modes {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let out = Command::new(std::env::current_exe()?)
                .args(["--measure", mode, &path.to_string_lossy()])
                .output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            samples.push(Sample::parse(&String::from_utf8(out.stdout)?)?);
        }
        samples.sort_by(|a, b| a.open_ms.total_cmp(&b.open_ms));
        let median = &samples[samples.len() / 2];
        let max = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
        let label = match mode {
            "sink" => "this change",
            _ => "before (every ID)",
        };
        println!(
            "| {records} | {:.0} MB, {files} file(s) | {label} | {:.1} ms | {} | {:.1} MB | {:.1} MB | {:.1} MB |",
            mb(bytes),
            median.open_ms,
            median.remembered,
            mb(max(|s| s.rss_before_kib) * 1024),
            mb(max(|s| s.rss_after_kib) * 1024),
            mb(max(|s| s.hwm_kib) * 1024),
        );
    }
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// One open, as the child reports it.
struct Sample {
    open_ms: f64,
    remembered: usize,
    rss_before_kib: u64,
    rss_after_kib: u64,
    hwm_kib: u64,
}

impl Sample {
    fn parse(line: &str) -> Result<Self, Box<dyn Error>> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [open_ms, remembered, before, after, hwm] = fields.as_slice() else {
            return Err(format!("unexpected child output: {line}").into());
        };
        Ok(Self {
            open_ms: open_ms.parse()?,
            remembered: remembered.parse()?,
            rss_before_kib: before.parse()?,
            rss_after_kib: after.parse()?,
            hwm_kib: hwm.parse()?,
        })
    }
}

/// The child: one open, then its time, the IDs it holds and the process's
/// memory, on one line.
fn measure(mode: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    // Held until the memory is read: what the sink keeps is the point.
    let (remembered, held): (usize, Box<dyn std::any::Any>) = match mode {
        "sink" => {
            let sink = JsonlAuditSink::open(path)?;
            (sink.remembered_ids(), Box::new(sink))
        }
        _ => {
            let ids = open_before_this_change(path)?;
            (ids.len(), Box::new(ids))
        }
    };
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let after = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    println!("{open_ms:.3} {remembered} {before} {after} {hwm}");
    drop(held);
    Ok(())
}

/// The open of before this change, for comparison: every ID in the file,
/// read line by line into a set (the code it replaced).
fn open_before_this_change(path: &Path) -> std::io::Result<HashSet<String>> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    let mut ids = HashSet::new();
    for line in BufReader::new(File::open(path)?).lines() {
        if let Ok(IdOnly { id }) = serde_json::from_str(&line?) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A `requested` record as the engine writes it, without its ID: the
/// JSON after `{"id":""`.
fn record_tail() -> Result<String, Box<dyn Error>> {
    let at: DateTime<Utc> = "2026-11-29T21:00:00.123456789Z".parse()?;
    let mut event = AuditEvent::identified_at(
        "",
        at,
        AuditAction::Requested,
        Some(UserId::new("U0ALICE01")),
    );
    event.command = Some("deploy app r-99.1.0 to production for OPS-1234".into());
    event.service = Some("app".into());
    event.version = Some("r-99.1.0".into());
    event.environment = Some("production".into());
    event.deployment = Some(DeploymentId::new("d-3f2c9a1b2c"));
    event.execution = Some(ExecutionId::new("4f6c6a52-0b1d-4e8e-9d3a-6f1f8d2b7c10"));
    event.channel = Some("C0PRODDEPLOY".into());
    event.thread = Some("1700000000.000100".into());
    event.source_event = Some(EventId::new("Ev08MFMKH6"));
    event.reason = Some("payments hotfix".into());
    let json = serde_json::to_string(&event)?;
    let tail = json
        .strip_prefix(r#"{"id":"""#)
        .ok_or("the record's JSON starts with its id")?;
    Ok(tail.to_owned())
}

/// Writes `records` records; with `split`, in files of at most 128 MiB
/// named as the sink rotates them. Returns the bytes and files written.
fn generate(path: &Path, records: u64, split: bool) -> Result<(u64, usize), Box<dyn Error>> {
    let tail = record_tail()?;
    let limit = if split {
        JsonlAuditSink::DEFAULT_ROTATE_AT_BYTES
    } else {
        u64::MAX
    };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let (mut total, mut in_file, mut files) = (0u64, 0u64, 1usize);
    let mut line = String::new();
    for n in 0..records {
        line.clear();
        line.push_str(r#"{"id":"Ev"#);
        line.push_str(&format!("{n:010}:requested\""));
        line.push_str(&tail);
        line.push('\n');
        let len = line.len() as u64;
        if in_file > 0 && in_file + len > limit {
            out.flush()?;
            drop(out);
            std::fs::rename(path, rotated(path, files))?;
            out = BufWriter::with_capacity(1 << 20, File::create(path)?);
            in_file = 0;
            files += 1;
        }
        out.write_all(line.as_bytes())?;
        in_file += len;
        total += len;
    }
    out.flush()?;
    Ok((total, files))
}

fn rotated(path: &Path, seq: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{seq:08}.2026-11-29T21-00-00Z"));
    PathBuf::from(name)
}
