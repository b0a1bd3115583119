//! chatdeploy's shared durable storage: [`PostgresStateStore`], the
//! [`StateStore`](chatdeploy_core::state::StateStore) on PostgreSQL, and
//! [`PostgresAuditSink`], the
//! [`AuditSink`](chatdeploy_core::audit::AuditSink) on the same database
//! and pool. Use it when several replicas of a bot share the work; for one
//! process, `chatdeploy-sqlite` needs no server.
//!
//! - **Shared safely.** Every operation is one statement (or one short
//!   transaction), so revision-checked updates, locks and event
//!   deduplication hold across every replica.
//! - **Several replicas.** A release is acted on by the replica holding
//!   its lease (owner, fence, expiry) in the `leases` table; fenced writes
//!   fail once the lease lapsed or passed on. A trigger announces every
//!   written release with `NOTIFY`, and
//!   [`changes`](chatdeploy_core::state::StateStore::changes) turns other
//!   replicas' announcements into a feed of release IDs (needs PostgreSQL
//!   11 or newer).
//! - **Own schema.** The tables live in a PostgreSQL schema of their own
//!   (`chatdeploy` by default, see
//!   [`with_schema`](PostgresStoreBuilder::with_schema)), created when
//!   missing.
//! - **Versioned.** The schema version is kept in a `chatdeploy_schema`
//!   table and migrated forward at start, inside one transaction under
//!   `pg_advisory_xact_lock`, so replicas starting at once migrate once. A
//!   schema from a newer chatdeploy is refused (upgrade the bot, never
//!   downgrade the schema); a schema with tables named like chatdeploy's
//!   that are not chatdeploy's is refused and left untouched.
//! - **Records as JSONB.** Releases, locks, history entries and audit
//!   records are stored as the core types' serde JSON beside a few indexed
//!   columns, so fields added to those types later (with serde defaults)
//!   need no migration.
//! - **TLS** with rustls (ring), following the connection string's
//!   `sslmode`: `disable`, `prefer` (the default), `require`, `verify-ca`,
//!   `verify-full` (with `sslrootcert=/path/ca.pem`, or the system's
//!   roots). Only the `verify-*` modes check the server's certificate.
//! - **Clear errors.** A server that cannot be reached, refused
//!   credentials, a missing database or a missing privilege stop
//!   [`build`](PostgresStoreBuilder::build) with an [`OpenStoreError`]
//!   saying what to fix; at run time the same sentences arrive as
//!   `StateError::Unavailable` / `AuditError::Unavailable`.
//!
//! ```no_run
//! use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink};
//! use chatdeploy_core::state::StateStore;
//! use chatdeploy_postgres::PostgresStateStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // CHATDEPLOY_POSTGRES_URL=postgres://chatdeploy:…@db.internal/chatdeploy?sslmode=verify-full
//! let store = match PostgresStateStore::from_env().await {
//!     Ok(store) => store,
//!     Err(e) => {
//!         // e.g. "cannot connect to PostgreSQL chatdeploy@db.internal:5432/chatdeploy:
//!         // database "chatdeploy" does not exist; create it (createdb chatdeploy) or fix
//!         // the database name in the connection string"
//!         eprintln!("error: {e}");
//!         std::process::exit(1);
//!     }
//! };
//! let audit = store.audit_sink();
//! audit.record(&AuditEvent::new(AuditAction::Locked, Some("U01".into()))).await?;
//! for release in store.in_flight().await? {
//!     println!("resuming {}", release.id);
//! }
//! # Ok(())
//! # }
//! ```

mod audit;
mod changes;
mod db;
mod error;
mod schema;
mod state;
mod tls;
mod url;

pub use audit::PostgresAuditSink;
pub use db::{
    DEFAULT_POOL_SIZE, DEFAULT_SCHEMA, POOL_SIZE_ENV, PostgresStoreBuilder, SCHEMA_ENV, URL_ENV,
};
pub use error::{BoxError, ConnectFailure, OpenStoreError};
pub use schema::latest_version as schema_version;
pub use state::PostgresStateStore;
pub use tls::{SslMode, TlsSettings};
