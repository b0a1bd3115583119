//! chatdeploy's embedded durable storage: [`SqliteStateStore`], the
//! [`StateStore`](chatdeploy_core::state::StateStore) on an SQLite file,
//! and [`SqliteAuditSink`], an
//! [`AuditSink`](chatdeploy_core::audit::AuditSink) on the same (or
//! another) file.
//!
//! - **Durable.** WAL mode with `synchronous = FULL`: when an operation
//!   returns `Ok`, its commit is on disk and survives a killed process or
//!   (as far as SQLite and the disk promise) a power cut.
//! - **Shared safely.** Several processes (or several stores in one
//!   process) may open the same file: every write is one `BEGIN IMMEDIATE`
//!   transaction, so revision-checked updates and service locks hold across
//!   all of them. A busy database is waited for and retried; "database is
//!   locked" never reaches a person.
//! - **Off the async workers, on few threads.** SQLite calls run on
//!   tokio's blocking pool, at most four at a time per database (SQLite
//!   writes one at a time anyway); a burst of calls waits its turn without
//!   a thread each.
//! - **Versioned.** The schema version is kept in `PRAGMA user_version` and
//!   migrated forward on open; a file from a newer chatdeploy is refused,
//!   never downgraded.
//! - **Careful with bad state.** A corrupt, foreign, unreadable or
//!   read-only file stops [`SqliteStateStore::open`] with an
//!   [`OpenStateError`] that names the file and says what to do. Nothing is
//!   ever reset or deleted.
//!
//! ```no_run
//! use chatdeploy_core::audit::{AuditAction, AuditEvent, AuditSink};
//! use chatdeploy_core::state::StateStore;
//! use chatdeploy_sqlite::SqliteStateStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = match SqliteStateStore::open("chatdeploy.db") {
//!     Ok(store) => store,
//!     Err(e) => {
//!         // e.g. "chatdeploy.db is not a chatdeploy state database (file is
//!         // not a database); nothing was changed: move it away or point
//!         // --state elsewhere"
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
mod codec;
mod connection;
mod error;
mod leases;
mod schema;
mod state;

pub use audit::SqliteAuditSink;
pub use error::{BoxError, OpenStateError};
pub use schema::latest_version as schema_version;
pub use state::SqliteStateStore;
