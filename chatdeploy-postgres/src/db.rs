//! The builder, the shared connection pool and the SQL text of every
//! statement (schema-qualified, prepared once per connection through
//! deadpool's statement cache).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use chatdeploy_core::audit::AuditError;
use chatdeploy_core::state::StateError;
use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::config::Host;

use crate::changes::Listener;
use crate::error::{DecodeError, OpError, OpenStoreError, Target};
use crate::tls::TlsSettings;
use crate::{PostgresStateStore, schema, url};

/// The environment variable [`PostgresStoreBuilder::from_env`] reads the
/// connection string from.
pub const URL_ENV: &str = "CHATDEPLOY_POSTGRES_URL";
/// The environment variable for the schema name.
pub const SCHEMA_ENV: &str = "CHATDEPLOY_POSTGRES_SCHEMA";
/// The environment variable for the pool size.
pub const POOL_SIZE_ENV: &str = "CHATDEPLOY_POSTGRES_POOL_SIZE";

/// The schema chatdeploy's tables live in unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "chatdeploy";
/// Connections per store unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
const MAX_POOL_SIZE: usize = 1024;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`PostgresStateStore`] (and, through it, the audit sink that
/// shares its pool).
///
/// ```no_run
/// use std::time::Duration;
/// use chatdeploy_postgres::{PostgresStateStore, SslMode, TlsSettings};
///
/// # async fn demo() -> Result<(), chatdeploy_postgres::OpenStoreError> {
/// let store = PostgresStateStore::builder()
///     .with_url("postgres://chatdeploy@db.internal:5432/chatdeploy")
///     .with_tls(TlsSettings::new(SslMode::VerifyFull).with_root_certificates("/etc/ssl/db-ca.pem"))
///     .with_pool_size(16)
///     .with_schema("chatdeploy")
///     .with_connect_timeout(Duration::from_secs(5))
///     .build()
///     .await?;
/// let audit = store.audit_sink();
/// # let _ = audit;
/// # Ok(())
/// # }
/// ```
pub struct PostgresStoreBuilder {
    url: Option<String>,
    schema: String,
    pool_size: usize,
    connect_timeout: Duration,
    operation_timeout: Duration,
    tls: Option<TlsSettings>,
    application_name: String,
    deferred: Option<OpenStoreError>,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("PostgresStoreBuilder")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("tls", &self.tls)
            .field("application_name", &self.application_name)
            .finish_non_exhaustive()
    }
}

impl Default for PostgresStoreBuilder {
    fn default() -> Self {
        Self {
            url: None,
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            tls: None,
            application_name: "chatdeploy".to_owned(),
            deferred: None,
        }
    }
}

impl PostgresStoreBuilder {
    /// A builder with the defaults: schema `chatdeploy`, 16 connections,
    /// 5 s to connect, 10 s per operation, TLS as the URL says (libpq's
    /// default `prefer` when it says nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder from the environment: the connection string from
    /// `CHATDEPLOY_POSTGRES_URL`, and, when set, the schema from
    /// `CHATDEPLOY_POSTGRES_SCHEMA` and the pool size from
    /// `CHATDEPLOY_POSTGRES_POOL_SIZE`. A malformed value is reported by
    /// [`build`](Self::build).
    pub fn from_env() -> Self {
        let mut builder = Self::new();
        if let Ok(url) = std::env::var(URL_ENV) {
            builder = builder.with_url(url);
        }
        if let Ok(schema) = std::env::var(SCHEMA_ENV) {
            builder = builder.with_schema(schema);
        }
        if let Ok(size) = std::env::var(POOL_SIZE_ENV) {
            match size.trim().parse() {
                Ok(size) => builder = builder.with_pool_size(size),
                Err(_) => {
                    builder.deferred = Some(OpenStoreError::InvalidSetting {
                        setting: POOL_SIZE_ENV,
                        detail: format!("`{size}` is not a number of connections"),
                    });
                }
            }
        }
        builder
    }

    /// The connection string: a URL (`postgres://user:password@host:5432/
    /// database?sslmode=verify-full&sslrootcert=/path/ca.pem`) or libpq
    /// key/value pairs (`host=… user=… dbname=…`).
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The PostgreSQL schema holding chatdeploy's tables (default
    /// `chatdeploy`): lowercase letters, digits and `_`. Created when
    /// missing; every replica of one bot must use the same.
    #[must_use]
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Connections this store (and its audit sink) keep at most (default
    /// 16). Every replica has its own pool: keep replicas × size under the
    /// server's `max_connections`.
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// TLS settings, overriding the connection string's `sslmode` and
    /// `sslrootcert`.
    #[must_use]
    pub fn with_tls(mut self, tls: TlsSettings) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long opening one connection may take (default 5 s), unless the
    /// connection string sets `connect_timeout`.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one operation (waiting for a pooled connection included)
    /// may take before it fails as unavailable (default 10 s).
    #[must_use]
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The `application_name` the server shows in `pg_stat_activity`
    /// (default `chatdeploy`), unless the connection string sets one.
    #[must_use]
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Checks the settings, connects, and checks and migrates the schema
    /// (see the crate documentation).
    ///
    /// # Errors
    ///
    /// [`OpenStoreError`] saying what to fix: a missing or invalid setting,
    /// a server that cannot be reached or refuses the credentials, a
    /// missing database, a schema written by a newer chatdeploy or holding
    /// tables that are not chatdeploy's.
    pub async fn build(self) -> Result<PostgresStateStore, OpenStoreError> {
        Ok(PostgresStateStore::from_database(Arc::new(
            self.open().await?,
        )))
    }

    async fn open(self) -> Result<Database, OpenStoreError> {
        if let Some(error) = self.deferred {
            return Err(error);
        }
        let raw = self.url.ok_or(OpenStoreError::MissingUrl)?;
        if !schema::valid_name(&self.schema) {
            return Err(OpenStoreError::InvalidSetting {
                setting: "schema",
                detail: format!(
                    "`{}` is not accepted; use lowercase letters, digits and _ (not starting \
                     with a digit or pg_), at most 63 characters",
                    self.schema
                ),
            });
        }
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(OpenStoreError::InvalidSetting {
                setting: "pool size",
                detail: format!(
                    "{} is out of range; use 1 to {MAX_POOL_SIZE} connections",
                    self.pool_size
                ),
            });
        }
        for (setting, value) in [
            ("connect timeout", self.connect_timeout),
            ("operation timeout", self.operation_timeout),
        ] {
            if value.is_zero() {
                return Err(OpenStoreError::InvalidSetting {
                    setting,
                    detail: "must be longer than zero".to_owned(),
                });
            }
        }
        let parsed = url::parse(&raw)?;
        let tls = self.tls.unwrap_or_else(|| {
            let settings = TlsSettings::new(parsed.ssl_mode.unwrap_or_default());
            match parsed.root_cert {
                Some(path) => settings.with_root_certificates(path),
                None => settings,
            }
        });
        let mut config = parsed.config;
        if config.get_hosts().is_empty() {
            return Err(OpenStoreError::InvalidUrl {
                detail: "it names no host; add one, e.g. postgres://user@host:5432/database"
                    .to_owned(),
                source: None,
            });
        }
        config.ssl_mode(tls.mode().for_tokio_postgres());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name(&self.application_name);
        }
        let connect_timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(self.connect_timeout);
        let target = target(&config, &self.schema, self.pool_size);
        let connector = tls.connector()?;
        // The listener of the change feed connects like the pool does.
        let listener = Listener::new(
            config.clone(),
            connector.clone(),
            &target,
            connect_timeout,
            self.operation_timeout,
        );
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Every pooled connection names this store as the writer of what
        // it writes (see the migration's trigger), so that its own change
        // feed can skip its own writes. `Fast` recycling keeps the setting.
        let set_writer: Arc<str> =
            format!("SET {} = '{}'", schema::WRITER_SETTING, listener.writer()).into();
        let pool = Pool::builder(manager)
            .post_create(Hook::async_fn(move |client, _| {
                let set_writer = Arc::clone(&set_writer);
                Box::pin(async move {
                    client
                        .batch_execute(&set_writer)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(connect_timeout))
            .recycle_timeout(Some(connect_timeout))
            .wait_timeout(Some(self.operation_timeout))
            .build()
            .map_err(|e| OpenStoreError::InvalidSetting {
                setting: "pool",
                detail: e.to_string(),
            })?;
        let mut client = pool.get().await.map_err(|e| {
            target.connect_error(target.classify_pool(e, connect_timeout, self.operation_timeout))
        })?;
        let found = schema::prepare(&mut client, &target).await?;
        warn_if_not_durable(&client, &target).await;
        drop(client);
        tracing::debug!(
            target = %target.label,
            schema = %target.schema,
            found,
            version = schema::latest_version(),
            tls = %tls.mode(),
            "PostgreSQL state store ready"
        );
        Ok(Database {
            sql: Sql::new(&target.schema),
            pool,
            listener: Arc::new(listener),
            target,
            connect_timeout,
            operation_timeout: self.operation_timeout,
            new_events: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
        })
    }
}

/// Logs a warning when the server does not make commits durable.
async fn warn_if_not_durable(client: &deadpool_postgres::Client, target: &Target) {
    if let Ok(row) = client.query_one("SHOW synchronous_commit", &[]).await {
        let setting: String = row.get(0);
        if setting == "off" {
            tracing::warn!(
                target = %target.label,
                "synchronous_commit is off on this PostgreSQL: state written just before a \
                 server crash can be lost (audit records are still committed durably)"
            );
        }
    }
}

/// `user@host:port/database`, for messages.
fn target(config: &tokio_postgres::Config, schema: &str, pool_size: usize) -> Target {
    let user = config.get_user().unwrap_or("").to_owned();
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let database = config.get_dbname().unwrap_or(&user).to_owned();
    Target {
        label: format!("{user}@{}/{database}", hosts.join(",")),
        user,
        database,
        schema: schema.to_owned(),
        pool_size,
    }
}

/// The pool, the names used in messages, and the statements.
#[derive(Debug)]
pub(crate) struct Database {
    pool: Pool,
    /// What the change feeds connect with, and this store's writer ID.
    pub(crate) listener: Arc<Listener>,
    pub(crate) target: Target,
    pub(crate) sql: Sql,
    connect_timeout: Duration,
    operation_timeout: Duration,
    /// New event IDs counted for the amortised sweep.
    pub(crate) new_events: AtomicU64,
    /// Whether a sweep runs now.
    pub(crate) sweeping: AtomicBool,
}

impl Database {
    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, OpError> {
        Ok(self.pool.get().await?)
    }

    /// Runs one operation with the operation timeout.
    pub(crate) async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, OpError>>,
    ) -> Result<T, OpError> {
        tokio::time::timeout(self.operation_timeout, op)
            .await
            .unwrap_or(Err(OpError::Timeout(self.operation_timeout)))
    }

    /// The failure as a [`StateError`].
    pub(crate) fn state_error(&self, what: &str, error: OpError) -> StateError {
        let failure =
            error.into_failure(&self.target, self.connect_timeout, self.operation_timeout);
        self.target.state_error(what, failure)
    }

    /// The failure as an [`AuditError`].
    pub(crate) fn audit_error(&self, error: OpError) -> AuditError {
        let failure =
            error.into_failure(&self.target, self.connect_timeout, self.operation_timeout);
        tracing::warn!(error = %failure.sentence, "writing or reading an audit record failed");
        self.target.audit_error(&failure)
    }

    /// Closes the pool: idle connections are closed, and every later
    /// operation fails. Change feeds end too.
    pub(crate) fn close(&self) {
        self.pool.close();
        self.listener.close();
    }
}

/// Every statement's text, qualified with the schema.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) remember_event: String,
    pub(crate) sweep_events: String,
    pub(crate) try_lock: String,
    pub(crate) lock_for_update: String,
    pub(crate) delete_lock: String,
    pub(crate) lock: String,
    pub(crate) locks: String,
    pub(crate) create_deployment: String,
    pub(crate) update_deployment: String,
    pub(crate) deployment: String,
    pub(crate) in_flight: String,
    pub(crate) append_history: String,
    pub(crate) history: String,
    pub(crate) claim: String,
    pub(crate) renew: String,
    pub(crate) release_lease: String,
    pub(crate) update_fenced: String,
    pub(crate) claimable: String,
    pub(crate) insert_audit: String,
    pub(crate) audit_all: String,
    pub(crate) audit_for: String,
}

impl Sql {
    fn new(schema: &str) -> Self {
        let s = schema::quoted(schema);
        Self {
            // One round trip: a new ID inserts, an expired one is taken
            // over (its expiry moved), a live one returns no row.
            remember_event: format!(
                "INSERT INTO {s}.events AS e (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                 WHERE e.expires_at <= $3 RETURNING true"
            ),
            sweep_events: format!(
                "DELETE FROM {s}.events WHERE expires_at <= $1 AND id IN (\
                 SELECT id FROM {s}.events WHERE expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ),
            // Returns the lock now held, ours (new or already ours) or
            // another holder's; the no-op update makes it one atomic
            // statement that sees the latest committed row.
            try_lock: format!(
                "INSERT INTO {s}.locks AS l (service, since, record) VALUES ($1, $2, $3::text::jsonb) \
                 ON CONFLICT (service) DO UPDATE SET since = l.since RETURNING l.record::text"
            ),
            lock_for_update: format!(
                "SELECT record::text FROM {s}.locks WHERE service = $1 FOR UPDATE"
            ),
            delete_lock: format!("DELETE FROM {s}.locks WHERE service = $1"),
            lock: format!("SELECT record::text FROM {s}.locks WHERE service = $1"),
            locks: format!("SELECT record::text, service FROM {s}.locks ORDER BY service"),
            create_deployment: format!(
                "INSERT INTO {s}.deployments (id, service, finalized, requested_at, revision, record) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::jsonb) ON CONFLICT (id) DO NOTHING"
            ),
            // One round trip: the revision-checked update, and whether the
            // row exists at all (to tell a conflict from a missing release).
            update_deployment: format!(
                "WITH updated AS (\
                   UPDATE {s}.deployments SET service = $2, finalized = $3, requested_at = $4, \
                   revision = $5, record = $6::text::jsonb WHERE id = $1 AND revision = $7 \
                   RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM updated), \
                        EXISTS (SELECT 1 FROM {s}.deployments WHERE id = $1)"
            ),
            deployment: format!("SELECT record::text FROM {s}.deployments WHERE id = $1"),
            in_flight: format!(
                "SELECT record::text, id FROM {s}.deployments WHERE NOT finalized \
                 ORDER BY requested_at, id"
            ),
            append_history: format!(
                "INSERT INTO {s}.history (deployment, service, ended_at, record) \
                 VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (deployment) DO NOTHING"
            ),
            history: format!(
                "SELECT record::text, deployment FROM {s}.history WHERE service = $1 \
                 ORDER BY ended_at DESC, seq LIMIT $2"
            ),
            // One round trip: a free, lapsed or own lease is taken (the
            // fence grows unless the holder renews a current lease of its
            // own); another owner's current lease returns no row.
            claim: format!(
                "INSERT INTO {s}.leases AS l (deployment, owner, fence, expires_at) \
                 VALUES ($1, $2, 1, $4) \
                 ON CONFLICT (deployment) DO UPDATE SET owner = EXCLUDED.owner, \
                 fence = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > $3 \
                         THEN l.fence ELSE l.fence + 1 END, \
                 expires_at = EXCLUDED.expires_at \
                 WHERE l.owner IS NULL OR l.expires_at <= $3 OR l.owner = EXCLUDED.owner \
                 RETURNING l.fence, l.expires_at"
            ),
            renew: format!(
                "UPDATE {s}.leases SET expires_at = $5 \
                 WHERE deployment = $1 AND owner = $2 AND fence = $3 AND expires_at > $4 \
                 RETURNING expires_at"
            ),
            release_lease: format!(
                "UPDATE {s}.leases SET owner = NULL \
                 WHERE deployment = $1 AND owner = $2 AND fence = $3"
            ),
            // One round trip: `update_deployment` only while the lease is
            // current, and what was missing (lease, revision or release).
            // `FOR SHARE` orders it with a concurrent claim: a takeover
            // committed first is seen, one committing later waits.
            update_fenced: format!(
                "WITH lease AS (\
                   SELECT 1 FROM {s}.leases WHERE deployment = $1 AND owner = $8 \
                   AND fence = $9 AND expires_at > $10 FOR SHARE), \
                 updated AS (\
                   UPDATE {s}.deployments SET service = $2, finalized = $3, requested_at = $4, \
                   revision = $5, record = $6::text::jsonb \
                   WHERE id = $1 AND revision = $7 AND EXISTS (SELECT 1 FROM lease) \
                   RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM updated), EXISTS (SELECT 1 FROM lease), \
                        EXISTS (SELECT 1 FROM {s}.deployments WHERE id = $1)"
            ),
            // Walks the in-flight index, probing each release's lease by
            // its primary key.
            claimable: format!(
                "SELECT d.id FROM {s}.deployments d LEFT JOIN {s}.leases l ON l.deployment = d.id \
                 WHERE NOT d.finalized AND (l.owner IS NULL OR l.expires_at <= $1 OR l.owner = $2) \
                 ORDER BY d.requested_at, d.id"
            ),
            insert_audit: format!(
                "INSERT INTO {s}.audit (id, at, action, deployment, record) \
                 VALUES ($1, $2, $3, $4, $5::text::jsonb) ON CONFLICT (id) DO NOTHING"
            ),
            audit_all: format!("SELECT record::text, id FROM {s}.audit ORDER BY seq"),
            audit_for: format!(
                "SELECT record::text, id FROM {s}.audit WHERE deployment = $1 ORDER BY seq"
            ),
        }
    }
}

/// A record as JSON text for a `jsonb` column. JSONB cannot hold the NUL
/// character, so a `\u0000` escape inside a string (only ever in text a
/// person or a backend supplied) is stored as U+FFFD instead.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, OpError> {
    let json = serde_json::to_string(value).map_err(OpError::Encode)?;
    if !json.contains("\\u0000") {
        return Ok(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json.as_str();
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(after) = escape.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Copy the backslash and the character it escapes.
            let len = escape[1..].chars().next().map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&escape[..len]);
            rest = &escape[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A stored JSON record; `what` and `key` name it in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    key: &str,
    json: &str,
) -> Result<T, OpError> {
    serde_json::from_str(json).map_err(|source| {
        OpError::Decode(DecodeError {
            what,
            key: key.to_owned(),
            source,
        })
    })
}

/// Decodes rows whose first column is a record and second its key.
pub(crate) fn decode_rows<T: DeserializeOwned>(
    what: &'static str,
    rows: &[tokio_postgres::Row],
) -> Result<Vec<T>, OpError> {
    rows.iter()
        .map(|row| {
            let json: &str = row.try_get(0)?;
            let key: &str = row.try_get(1)?;
            decode(what, key, json)
        })
        .collect()
}

/// A revision as PostgreSQL's `bigint`.
pub(crate) fn to_i64(value: u64) -> Result<i64, OpError> {
    i64::try_from(value).map_err(|_| OpError::Range(format!("revision {value} does not fit")))
}

/// A stored fence (`bigint`, at least 1) as the lease's.
pub(crate) fn fence_from_i64(value: i64) -> Result<u64, OpError> {
    u64::try_from(value).map_err(|_| OpError::Range(format!("stored fence {value} is negative")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_and_nothing_else_changes() {
        let value = serde_json::json!({
            "a": "x\u{0}y",
            "b": "literal \\u0000 text",
            "c": "é\"\\",
        });
        let text = encode(&value).unwrap();
        assert!(!text.contains("\\u0000\""), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a"], "x\u{fffd}y");
        assert_eq!(back["b"], "literal \\u0000 text");
        assert_eq!(back["c"], "é\"\\");
        let plain = serde_json::json!({"a": "plain"});
        assert_eq!(encode(&plain).unwrap(), r#"{"a":"plain"}"#);
    }

    #[test]
    fn the_target_names_user_hosts_and_database_but_no_password() {
        let parsed = url::parse("postgres://bot:hunter2@db1:5433,[::1]:5434/chatdeploy").unwrap();
        let named = target(&parsed.config, "chatdeploy", 4);
        assert_eq!(named.label, "bot@db1:5433,[::1]:5434/chatdeploy");
        let parsed = url::parse("host=/run/postgresql user=bot").unwrap();
        assert_eq!(
            target(&parsed.config, "x", 1).label,
            "bot@/run/postgresql:5432/bot"
        );
    }

    #[tokio::test]
    async fn settings_are_checked_before_connecting() {
        let error = PostgresStoreBuilder::new().build().await.unwrap_err();
        assert!(matches!(error, OpenStoreError::MissingUrl), "{error}");
        assert!(error.to_string().contains(URL_ENV), "{error}");

        let url = "postgres://bot@127.0.0.1:1/x";
        let error = PostgresStoreBuilder::new()
            .with_url(url)
            .with_schema("Bad-Name")
            .build()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("Bad-Name"), "{error}");
        let error = PostgresStoreBuilder::new()
            .with_url(url)
            .with_pool_size(0)
            .build()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("1 to 1024"), "{error}");
        let error = PostgresStoreBuilder::new()
            .with_url(url)
            .with_operation_timeout(Duration::ZERO)
            .build()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("operation timeout"), "{error}");
        let error = PostgresStoreBuilder::new()
            .with_url("postgres://bot@127.0.0.1:1/x?sslmode=always")
            .build()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("sslmode"), "{error}");
    }

    #[test]
    fn the_builder_never_shows_the_url() {
        let builder = PostgresStoreBuilder::new().with_url("postgres://bot:hunter2@db/x");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<set>"), "{shown}");
    }
}
