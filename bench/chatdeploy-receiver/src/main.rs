//! The chatdeploy side of the receive-path benchmark: the real Events API
//! listener (`EventsApiListener::serve`: signature, body limit, translation) and the real
//! engine behind it (event dedupe in the state store, parsing, routing,
//! authorisation, the read-only answer, an audit record), with in-memory
//! state and a chat surface that keeps nothing, on one tokio thread like the
//! bare receiver it is compared with.
//!
//! ```text
//! chatdeploy-receiver --listen 127.0.0.1:3000 --secret SIGNING_SECRET [--state STATE]
//! ```
//!
//! `--state` puts the state (the event dedupe, locks, releases) in a SQLite
//! file or a `postgres://` URL instead of memory, to measure the receive
//! path with the store a deployment runs; `--threads N` runs the engine on
//! N worker threads instead of one.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use chatdeploy_core::Catalog;
use chatdeploy_core::chat::EventHandler;
use chatdeploy_core::chat::NullChatSurface;
use chatdeploy_core::engine::Engine;
use chatdeploy_core::state::{InMemoryStateStore, StateStore};
use chatdeploy_core::testing::{NullAuditSink, ONE_SERVICE_CATALOG, ScriptedBackend};
use chatdeploy_slack::EventsApiListener;

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name).skip(1);
    args.next()
}

fn main() -> Result<(), Box<dyn Error>> {
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let secret = arg("--secret").ok_or("--secret SIGNING_SECRET is required")?;
    let state = arg("--state");
    let threads: usize = arg("--threads").map_or(Ok(1), |n| n.parse())?;
    let runtime = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let store: Arc<dyn StateStore> = match state.as_deref() {
            None => Arc::new(InMemoryStateStore::new()),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Arc::new(
                    chatdeploy_postgres::PostgresStoreBuilder::from_env()
                        .with_url(url)
                        .build()
                        .await?,
                )
            }
            Some(path) => Arc::new(chatdeploy_sqlite::SqliteStateStore::open(
                std::path::Path::new(path),
            )?),
        };
        let engine = Engine::builder()
            .with_catalog(Catalog::from_toml_str(ONE_SERVICE_CATALOG, "bench.toml")?)
            .with_chat(Arc::new(NullChatSurface::new()))
            .with_backend(Arc::new(ScriptedBackend::new()))
            // Audit records are built by the engine and dropped (a durable sink
            // would fsync per record, which measures the disk).
            .with_audit(Arc::new(NullAuditSink))
            .with_state(store)
            // Slack redelivers within minutes; ten minutes covers its retries.
            .with_dedupe_ttl(Duration::from_secs(600))
            .build()?;
        let handler: Arc<dyn EventHandler> = Arc::new(engine);
        let listener = EventsApiListener::new(&secret, handler).with_bot_user("U0BOT");
        let socket = tokio::net::TcpListener::bind(&listen).await?;
        println!("listening on http://{}", socket.local_addr()?);
        listener.serve(socket, std::future::pending()).await?;
        Ok(())
    })
}
