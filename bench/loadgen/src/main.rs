//! Load generator for the Slack Events API receive path (see `docs/PERFORMANCE.md`).
//!
//! Opens a fixed number of keep-alive HTTP/1.1 connections (hyper 1 client
//! connections over tokio's current_thread runtime, so the generator itself
//! stays cheap); each connection sends one request at a time, in a loop. Every
//! request is an `event_callback` carrying an `app_mention`, in the shape
//! Slack documents, with a distinct `event_id`, signed with Slack's v0 scheme.
//! After a warm-up, latencies are recorded for a fixed duration; the run then
//! reports requests/s, p50/p99/max latency, non-200 answers and errors.
//!
//! Usage: `loadgen --url http://127.0.0.1:PORT/slack/events --secret S
//! [--connections N] [--duration SECS] [--warmup SECS] [--text T] [--json]`

mod payload;

use std::error::Error;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::LocalSet;

use crate::payload::Signer;

/// A connection gives up after this many errors in a row (server gone).
const MAX_CONSECUTIVE_ERRORS: u32 = 50;

/// `sysconf(_SC_CLK_TCK)`, 100 on every Linux this runs on.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// This process's user + system CPU time, in clock ticks, from `/proc/self/stat`.
fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The command line.
#[derive(Debug)]
struct Config {
    host: String,
    port: u16,
    path: String,
    authority: String,
    secret: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    text: String,
    json: bool,
}

/// What one connection measured.
#[derive(Debug)]
struct Stats {
    latency_us: Histogram<u64>,
    /// Responses received, warm-up and all (to relate to the server's CPU time).
    completed: u64,
    non200: u64,
    errors: u64,
}

impl Stats {
    fn new() -> Result<Self, Box<dyn Error>> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            completed: 0,
            non200: 0,
            errors: 0,
        })
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let cfg = Rc::new(parse_args()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = LocalSet::new();
    let (started, cpu_before) = (Instant::now(), own_cpu_ticks());
    let (total, elapsed) = local.block_on(&rt, run(Rc::clone(&cfg)))?;
    // The generator's own CPU share (warm-up included): near 100% means it, not
    // the server, may be what limits the rate.
    let wall = started.elapsed().as_secs_f64().max(f64::EPSILON);
    let cpu_pct = own_cpu_ticks()
        .zip(cpu_before)
        .map_or(-1.0, |(after, before)| {
            (after - before) as f64 / CLOCK_TICKS_PER_SEC / wall * 100.0
        });
    report(&cfg, &total, elapsed, cpu_pct);
    Ok(())
}

async fn run(cfg: Rc<Config>) -> Result<(Stats, Duration), Box<dyn Error>> {
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let until = measure_from + cfg.duration;
    let tag = payload::run_tag();
    let tasks: Vec<_> = (0..cfg.connections)
        .map(|conn| {
            let cfg = Rc::clone(&cfg);
            tokio::task::spawn_local(async move {
                connection(&cfg, conn, tag, measure_from, until).await
            })
        })
        .collect();
    let mut total = Stats::new()?;
    for task in tasks {
        let stats = task.await??;
        total.latency_us.add(&stats.latency_us)?;
        total.completed += stats.completed;
        total.non200 += stats.non200;
        total.errors += stats.errors;
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    Ok((total, elapsed))
}

/// One keep-alive connection: request → response, in a loop, until `until`.
async fn connection(
    cfg: &Config,
    conn: usize,
    tag: u32,
    measure_from: Instant,
    until: Instant,
) -> Result<Stats, String> {
    let mut stats = Stats::new().map_err(|e| e.to_string())?;
    let mut signer = Signer::new(&cfg.secret, &cfg.text, tag, conn).map_err(|e| e.to_string())?;
    let mut sender = None;
    let mut consecutive_errors = 0;
    while Instant::now() < until && consecutive_errors < MAX_CONSECUTIVE_ERRORS {
        if sender.is_none() {
            match connect(cfg).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    stats.errors += 1;
                    consecutive_errors += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let signed = signer.next();
        let req = Request::builder()
            .method(Method::POST)
            .uri(cfg.path.as_str())
            .header(HOST, cfg.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header("x-slack-request-timestamp", signed.timestamp)
            .header("x-slack-signature", signed.signature)
            .body(Full::new(signed.body))
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let outcome = async {
            s.ready().await?;
            let resp = s.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        let done = Instant::now();
        match outcome {
            Ok(status) => {
                consecutive_errors = 0;
                stats.completed += 1;
                if sent >= measure_from && done <= until {
                    let us = done.duration_since(sent).as_micros();
                    stats
                        .latency_us
                        .saturating_record(u64::try_from(us).unwrap_or(u64::MAX));
                    if status != StatusCode::OK {
                        stats.non200 += 1;
                    }
                }
            }
            Err(_) => {
                stats.errors += 1;
                consecutive_errors += 1;
                sender = None;
            }
        }
    }
    Ok(stats)
}

async fn connect(cfg: &Config) -> Result<http1::SendRequest<Full<Bytes>>, Box<dyn Error>> {
    let stream = TcpStream::connect((cfg.host.as_str(), cfg.port)).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(async move {
        // The connection ends when the sender is dropped or the server closes.
        let _ = conn.await;
    });
    Ok(sender)
}

fn report(cfg: &Config, total: &Stats, elapsed: Duration, cpu_pct: f64) {
    let h = &total.latency_us;
    let requests = h.len();
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let rps = requests as f64 / secs;
    let (p50, p99, max) = if requests == 0 {
        (0, 0, 0)
    } else {
        (
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.max(),
        )
    };
    let human = format!(
        "{} conns, {:.1} s: {:.0} req/s, p50 {} us, p99 {} us, max {} us, non-200 {}, errors {} ({} requests, loadgen cpu {:.0}%)",
        cfg.connections, secs, rps, p50, p99, max, total.non200, total.errors, requests, cpu_pct
    );
    if cfg.json {
        eprintln!("{human}");
        println!(
            "{{\"connections\":{},\"seconds\":{:.3},\"requests\":{},\"rps\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"non200\":{},\"errors\":{},\"completed\":{},\"loadgen_cpu_pct\":{:.0}}}",
            cfg.connections,
            secs,
            requests,
            rps,
            p50,
            p99,
            max,
            total.non200,
            total.errors,
            total.completed,
            cpu_pct
        );
    } else {
        println!("{human}");
    }
}

fn parse_args() -> Result<Config, Box<dyn Error>> {
    let mut url = String::from("http://127.0.0.1:3000/slack/events");
    let mut secret = std::env::var("SLACK_SIGNING_SECRET").ok();
    let (mut connections, mut duration, mut warmup) = (16usize, 10.0f64, 2.0f64);
    let mut text = String::from("<@U0BOT> status");
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = value()?,
            "--secret" => secret = Some(value()?),
            "--connections" | "-c" => connections = value()?.parse()?,
            "--duration" | "-d" => duration = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--text" => text = value()?,
            "--json" => json = true,
            "-h" | "--help" => {
                println!(
                    "usage: loadgen --url http://127.0.0.1:PORT/slack/events --secret S \
                     [--connections N] [--duration SECS] [--warmup SECS] [--text T] [--json]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !(1..=999).contains(&connections) {
        return Err("--connections must be between 1 and 999".into());
    }
    if !(duration > 0.0 && duration <= 3600.0 && (0.0..=600.0).contains(&warmup)) {
        return Err("--duration must be in (0, 3600] and --warmup in [0, 600]".into());
    }
    let uri: Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        return Err("--url must be http://HOST:PORT/PATH".into());
    }
    let host = uri.host().ok_or("--url has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    Ok(Config {
        authority: format!("{host}:{port}"),
        host,
        port,
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        secret: secret.ok_or("--secret (or SLACK_SIGNING_SECRET) is required")?,
        connections,
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        text,
        json,
    })
}
