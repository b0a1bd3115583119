//! A real PostgreSQL for the tests: `CHATDEPLOY_TEST_POSTGRES_URL` names it
//! (`.ci/postgres.sh` starts one), and each test gets a fresh schema of its
//! own, dropped afterwards.
//!
//! Without the variable a test is skipped with a note, unless
//! `CHATDEPLOY_REQUIRE_POSTGRES=1` (as in CI), where it fails.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use chatdeploy_postgres::{PostgresStateStore, PostgresStoreBuilder};

/// The server's URL.
pub const URL_VAR: &str = "CHATDEPLOY_TEST_POSTGRES_URL";
/// Set to 1 to fail, not skip, when the URL is missing.
pub const REQUIRE_VAR: &str = "CHATDEPLOY_REQUIRE_POSTGRES";
/// The PEM file of the CA that signed the test server's certificate.
pub const CA_VAR: &str = "CHATDEPLOY_TEST_POSTGRES_CA";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The test server's URL, or `None` (after printing how to get one) when
/// none is configured and none is required.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{test}: {REQUIRE_VAR}=1 but {URL_VAR} is not set; start a server with \
                 `eval \"$(bash .ci/postgres.sh start)\"`"
            );
            eprintln!(
                "note: {test} skipped: {URL_VAR} is not set. Run the PostgreSQL tests with \
                 `bash .ci/postgres.sh run -- cargo test -p chatdeploy-postgres`"
            );
            None
        }
    }
}

/// One test's schema on the test server.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    schema: String,
    dropped: bool,
}

/// A fresh, unique schema name for `test` (nothing is created yet).
pub fn unique_schema(test: &str) -> String {
    let slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_{slug}_{}_{n}_{nanos:x}", std::process::id())
}

/// A test database with a unique schema name, or `None` when skipped.
pub fn database(test: &str) -> Option<TestDb> {
    let url = url(test)?;
    Some(TestDb {
        url,
        schema: unique_schema(test),
        dropped: false,
    })
}

impl TestDb {
    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This test's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A builder for this server and schema, with a small pool.
    pub fn builder(&self) -> PostgresStoreBuilder {
        PostgresStateStore::builder()
            .with_url(&self.url)
            .with_schema(&self.schema)
            .with_pool_size(4)
    }

    /// A store on this test's schema (migrating it).
    pub async fn store(&self) -> PostgresStateStore {
        self.builder().build().await.unwrap()
    }

    /// A plain client for checks and sabotage.
    pub async fn admin(&self) -> tokio_postgres::Client {
        admin(&self.url).await
    }

    /// Drops the schema.
    pub async fn cleanup(mut self) {
        drop_schema(&self.url, &self.schema).await;
        self.dropped = true;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A test that panicked: drop the schema from a thread of its own.
        let url = self.url.clone();
        let schema = self.schema.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(drop_schema(&url, &schema));
        })
        .join();
    }
}

/// A plain tokio-postgres client (no TLS) on `url`.
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test server accepts connections");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn drop_schema(url: &str, schema: &str) {
    let client = admin(url).await;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

/// Skips the test (returns) when no server is configured.
#[macro_export]
macro_rules! db_or_skip {
    ($name:expr) => {
        match support::database($name) {
            Some(db) => db,
            None => return,
        }
    };
}
