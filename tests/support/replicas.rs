//! Several replicas of the real bot: three `slack_ssm` processes sharing
//! one fresh PostgreSQL schema, the `ssm-emulator` process, and the fake
//! Slack (Web API, and for Socket Mode its websocket server) in the test
//! process. The replicas take Slack's deliveries over either transport
//! ([`Transport`]): the Events API (each serves HTTP on loopback) or
//! Socket Mode (each holds a connection to the fake Socket Mode server).
//!
//! Slack's side is played here as well: each event and click goes to a
//! random replica (a seeded RNG; the seed is printed, and
//! `CHATDEPLOY_REPLICAS_SEED` replays it). Over the Events API a delivery
//! that fails (connection refused, no answer within Slack's 3 s, or not
//! 200) is redelivered to another replica, as Slack retries (`delivery`);
//! over Socket Mode the fake server pushes each envelope to a random
//! connection and pushes one not acknowledged within 3 s again to another
//! connection. What the replicas did is read back from PostgreSQL, the
//! emulator and the fake Slack (`inspect`).
#![allow(dead_code)]

mod delivery;
mod inspect;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chatdeploy::slack::fake::{FakeSlackApi, FakeSocketModeConfig, FakeSocketModeServer};
use chatdeploy_postgres::PostgresStateStore;

use super::{BOT_CONFIG, binary, target_dir};

#[allow(unused_imports)] // only tests/replicas.rs names a delivery
pub use delivery::Delivery;
#[allow(unused_imports)] // only tests/replicas.rs prints the table
pub use inspect::{Row, print_table};

/// How many bot processes share the work.
pub const REPLICAS: usize = 3;
/// The lease TTL the replicas run with: a dead owner's releases are taken
/// over within about this, plus the sweep (a third of it).
pub const LEASE_TTL: Duration = Duration::from_secs(3);
/// The signing secret of the fake Slack app.
pub const SECRET: &str = "replicas-test-secret";
/// The deploy channel, the deployer and the approver of the configuration.
pub const CHANNEL: &str = "C0DEPLOY";
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
/// The longest any one wait of a case may take.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The server's URL variable and the one that makes a missing server a
/// failure (as in `chatdeploy-postgres/tests/support`).
const URL_VAR: &str = "CHATDEPLOY_TEST_POSTGRES_URL";
const REQUIRE_VAR: &str = "CHATDEPLOY_REQUIRE_POSTGRES";

/// The test server's URL, or `None` after printing why the test is
/// skipped; fails instead when `CHATDEPLOY_REQUIRE_POSTGRES=1`.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{test}: {REQUIRE_VAR}=1 but {URL_VAR} is not set; start a server with \
                 `eval \"$(bash .ci/postgres.sh start)\"`"
            );
            eprintln!(
                "note: {test} skipped: no PostgreSQL ({URL_VAR} is not set). Run it with \
                 `bash .ci/postgres.sh run -- cargo test --all-features --test replicas`"
            );
            None
        }
    }
}

/// How Slack reaches the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Signed HTTP requests to each replica's `--listen` address.
    EventsApi,
    /// Envelopes over each replica's websocket to the fake Socket Mode
    /// server (`SLACK_APP_TOKEN`, no `--listen`).
    SocketMode,
}

impl Transport {
    /// How it is named in the results tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::EventsApi => "Events API",
            Self::SocketMode => "Socket Mode",
        }
    }
}

/// One bot process.
struct Replica {
    name: String,
    child: Option<Child>,
    /// Its Events API address (none in Socket Mode).
    addr: Option<String>,
    paused: bool,
}

/// The processes of one test case, on a schema of their own (dropped at
/// the end).
pub struct Cluster {
    test: String,
    /// How Slack reaches the replicas.
    pub transport: Transport,
    dir: tempfile::TempDir,
    emulator: Child,
    emulator_addr: String,
    /// The fake Slack Web API every replica talks to.
    pub slack: FakeSlackApi,
    /// The fake Socket Mode server (Socket Mode only).
    pub socket: Option<FakeSocketModeServer>,
    /// The number of the next envelope (Socket Mode).
    envelopes: std::sync::atomic::AtomicUsize,
    url: String,
    schema: String,
    replicas: Vec<Replica>,
    rng: Mutex<delivery::Rng>,
    /// The seed of this case's delivery choices.
    pub seed: u64,
    /// A plain client on the test server, for reading the tables.
    db: tokio_postgres::Client,
    /// A store on the same schema, for the state as the engine sees it.
    pub store: PostgresStateStore,
}

/// Starts a process; its `listening on http://ADDR` line arrives on the
/// returned channel. Its output (where the bot logs) is copied to `log`.
fn spawn(
    command: &mut Command,
    log: Option<PathBuf>,
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = log.map(|path| std::fs::File::create(path).unwrap());
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(log) = log.as_mut() {
                let _ = writeln!(log, "{line}");
            }
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    (child, rx)
}

fn announced(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} did not announce its address within 30 s"))
}

/// A fresh schema name for `test`, unique across runs and processes.
fn unique_schema(test: &str) -> String {
    let slug: String = test
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_rep_{slug}_{}_{nanos:x}", std::process::id())
}

impl Cluster {
    /// Starts the emulator, the fake Slack and [`REPLICAS`] bots named
    /// `r1`, `r2`, … on a fresh schema, on the Events API; `None` when
    /// PostgreSQL is not configured (see [`postgres_url`]).
    pub async fn start(test: &str) -> Option<Self> {
        Self::start_with(test, Transport::EventsApi).await
    }

    /// As [`start`](Self::start), the replicas taking Slack's deliveries
    /// over `transport`.
    pub async fn start_with(test: &str, transport: Transport) -> Option<Self> {
        let url = postgres_url(test)?;
        let seed = delivery::seed();
        eprintln!(
            "{test} ({}): delivery seed {seed} (replay with CHATDEPLOY_REPLICAS_SEED={seed})",
            transport.label()
        );
        let schema = unique_schema(test);
        let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the PostgreSQL test server accepts connections");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // Migrated once here, so the bots start on a ready schema.
        let store = PostgresStateStore::builder()
            .with_url(&url)
            .with_schema(&schema)
            .with_pool_size(2)
            .build()
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let document = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/deploy-app.ssm.yml");
        let (emulator, emulator_rx) = spawn(
            Command::new(binary(target_dir().join("ssm-emulator")))
                .args(["--step-delay-ms", "150", "--document"])
                .arg(format!("Deploy-App={document}"))
                .stderr(Stdio::null()),
            None,
        );
        let emulator_addr = announced(&emulator_rx, "the emulator");
        std::fs::write(dir.path().join("chatdeploy.toml"), BOT_CONFIG).unwrap();
        let slack = FakeSlackApi::start().await.unwrap();
        let socket = match transport {
            Transport::EventsApi => None,
            Transport::SocketMode => {
                // Slack's ack timeout and retries; the cluster's seed.
                let config = FakeSocketModeConfig::new().with_seed(seed);
                let socket = FakeSocketModeServer::start_with(config).await.unwrap();
                slack.set_socket_url(socket.url());
                Some(socket)
            }
        };
        let mut cluster = Self {
            test: test.to_owned(),
            transport,
            dir,
            emulator,
            emulator_addr,
            slack,
            socket,
            envelopes: std::sync::atomic::AtomicUsize::new(0),
            url,
            schema,
            replicas: Vec::new(),
            rng: Mutex::new(delivery::Rng::new(seed)),
            seed,
            db,
            store,
        };
        let started: Vec<_> = (1..=REPLICAS)
            .map(|n| {
                let name = format!("r{n}");
                let log = cluster.dir.path().join(format!("{name}.log"));
                let (child, rx) = spawn(&mut cluster.bot_command(&name), Some(log));
                (name, child, rx)
            })
            .collect();
        for (name, child, rx) in started {
            let addr = match transport {
                Transport::EventsApi => Some(announced(&rx, &name)),
                Transport::SocketMode => None,
            };
            cluster.replicas.push(Replica {
                name,
                child: Some(child),
                addr,
                paused: false,
            });
        }
        if transport == Transport::SocketMode {
            cluster.wait_for_connections().await;
        }
        Some(cluster)
    }

    /// Waits until every replica holds a connection at the fake Socket
    /// Mode server (a replica in Socket Mode announces no address).
    async fn wait_for_connections(&mut self) {
        let start = Instant::now();
        loop {
            let missing: Vec<String> = self
                .names()
                .into_iter()
                .filter(|name| self.connection_of(name).is_none())
                .collect();
            if missing.is_empty() {
                return;
            }
            for replica in &mut self.replicas {
                let exited = replica.child.as_mut().unwrap().try_wait().unwrap();
                if let Some(status) = exited {
                    let errors = std::fs::read_to_string(
                        self.dir.path().join(format!("{}.err", replica.name)),
                    )
                    .unwrap_or_default();
                    panic!(
                        "{} exited with {status} before connecting: {errors}",
                        replica.name
                    );
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{missing:?} did not connect to the fake Socket Mode server within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The fake Socket Mode server; panics on the Events API.
    pub fn socket(&self) -> &FakeSocketModeServer {
        self.socket
            .as_ref()
            .expect("the cluster runs in Socket Mode")
    }

    /// The replica's open connection at the fake Socket Mode server (its
    /// latest), told apart by the ticket its `apps.connections.open` got.
    pub fn connection_of(&self, name: &str) -> Option<usize> {
        let auth = format!("Bearer xapp-{name}");
        let tickets = self.slack.socket_tickets();
        self.socket()
            .open_connections()
            .into_iter()
            .rev()
            .find(|c| {
                tickets.iter().any(|t| {
                    Some(&t.ticket) == c.ticket.as_ref() && t.auth.as_deref() == Some(&auth)
                })
            })
            .map(|c| c.id)
    }

    /// The replica that opened connection `connection`.
    pub fn replica_on(&self, connection: usize) -> String {
        let connections = self.socket().connection_list();
        let ticket = connections
            .get(connection)
            .and_then(|c| c.ticket.clone())
            .unwrap_or_else(|| panic!("connection {connection} has no ticket"));
        self.slack
            .socket_tickets()
            .into_iter()
            .find(|t| t.ticket == ticket)
            .and_then(|t| t.auth)
            .and_then(|auth| auth.strip_prefix("Bearer xapp-").map(str::to_owned))
            .unwrap_or_else(|| panic!("no replica asked for ticket {ticket}"))
    }

    /// A bot's command line: the shared schema (`CHATDEPLOY_POSTGRES_SCHEMA`)
    /// for state and audit, its own Slack tokens (so the fake Slack tells
    /// the replicas' calls and connections apart), the short lease, and
    /// the transport (`--listen` for the Events API, `SLACK_APP_TOKEN` for
    /// Socket Mode); errors (stderr) go to `NAME.err`, logs (stdout) to
    /// `NAME.log`.
    fn bot_command(&self, name: &str) -> Command {
        let dir = self.dir.path();
        let errors = std::fs::File::create(dir.join(format!("{name}.err"))).unwrap();
        let mut command = Command::new(binary(target_dir().join("examples").join("slack_ssm")));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLACK_BOT_TOKEN", format!("xoxb-{name}"))
            .env("SLACK_API_URL", self.slack.api_url())
            .env("AWS_ENDPOINT_URL", format!("http://{}", self.emulator_addr))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            // Never probe the EC2 metadata service from a test.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("CHATDEPLOY_POSTGRES_SCHEMA", &self.schema)
            .env("CHATDEPLOY_POSTGRES_POOL_SIZE", "4")
            // The router's debug line says when an event is dropped as a repeat.
            .env(
                "RUST_LOG",
                "warn,chatdeploy_core::engine=info,chatdeploy_core::engine::router=debug",
            )
            .env("NO_COLOR", "1")
            .arg("--config")
            .arg(dir.join("chatdeploy.toml"))
            .args(["--state", &self.url, "--audit", &self.url])
            .args(["--replica-id", name])
            .arg("--lease-ttl")
            .arg(format!("{}s", LEASE_TTL.as_secs()))
            .stderr(errors);
        match self.transport {
            Transport::EventsApi => {
                command
                    .env("SLACK_SIGNING_SECRET", SECRET)
                    .args(["--listen", "127.0.0.1:0"]);
            }
            Transport::SocketMode => {
                command.env("SLACK_APP_TOKEN", format!("xapp-{name}"));
            }
        }
        command
    }

    /// The replicas' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.name.clone()).collect()
    }

    /// The replicas running and not paused.
    pub fn running(&self) -> Vec<String> {
        self.replicas
            .iter()
            .filter(|r| r.child.is_some() && !r.paused)
            .map(|r| r.name.clone())
            .collect()
    }

    /// The index of the replica named `name`.
    pub fn index(&self, name: &str) -> usize {
        self.replicas
            .iter()
            .position(|r| r.name == name)
            .unwrap_or_else(|| panic!("no replica {name}"))
    }

    /// The replica's log so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// How many events the replica dropped as repeats (already recorded
    /// in the shared state by another delivery), from its log.
    pub fn dropped_repeats(&self, name: &str) -> usize {
        self.log(name).matches("redelivered event dropped").count()
    }

    /// SIGKILL.
    pub fn kill(&mut self, name: &str) {
        let i = self.index(name);
        let mut child = self.replicas[i]
            .child
            .take()
            .expect("the replica is running");
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
    }

    /// SIGSTOP: the process stays, its sockets accept, nothing runs.
    pub fn pause(&mut self, name: &str) {
        let i = self.index(name);
        signal(self.replicas[i].child.as_ref().unwrap(), "STOP");
        self.replicas[i].paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self, name: &str) {
        let i = self.index(name);
        signal(self.replicas[i].child.as_ref().unwrap(), "CONT");
        self.replicas[i].paused = false;
    }

    /// Stops every running replica with SIGTERM; each must exit 0 well
    /// within the 10 s it gives its supervisors.
    pub fn stop_all(&mut self) {
        for replica in &mut self.replicas {
            let Some(mut child) = replica.child.take() else {
                continue;
            };
            if replica.paused {
                signal(&child, "CONT");
            }
            signal(&child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{} did not exit within 20 s of SIGTERM", replica.name);
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "{} exited with {status}", replica.name);
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {}", child.id());
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            if let Some(mut child) = replica.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
        if std::thread::panicking() {
            // Keep the logs of a failed case; say where they are.
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!(
                "{}: replica logs kept in {}",
                self.test,
                dir.keep().display()
            );
        }
        // The schema goes, from a thread of its own (no runtime here).
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = client.batch_execute(&drop).await;
                }
            });
        })
        .join();
    }
}
