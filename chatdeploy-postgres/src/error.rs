//! Why a store could not be opened, and how PostgreSQL failures become the
//! core traits' errors, each with a sentence saying what to fix.

use std::time::Duration;

use chatdeploy_core::audit::AuditError;
use chatdeploy_core::state::StateError;
use deadpool_postgres::{HookError, PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

/// A boxed underlying error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why [`PostgresStoreBuilder::build`](crate::PostgresStoreBuilder::build)
/// (or [`PostgresStateStore::connect`](crate::PostgresStateStore::connect))
/// failed.
///
/// Every variant says what to fix. Messages name the server as
/// `user@host:port/database` and never contain the password. Opening never
/// drops, truncates or rewrites anything it did not create: a schema that
/// is refused is left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenStoreError {
    /// No connection string was given.
    #[error(
        "no PostgreSQL connection string: set CHATDEPLOY_POSTGRES_URL \
         (e.g. postgres://chatdeploy@db.internal:5432/chatdeploy?sslmode=verify-full) \
         or call with_url"
    )]
    MissingUrl,
    /// The connection string cannot be read.
    #[error("the PostgreSQL connection string is invalid: {detail}")]
    InvalidUrl {
        /// What is wrong (never the string itself, which may hold a password).
        detail: String,
        /// The parser's error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A setting is out of range.
    #[error("invalid PostgreSQL setting {setting}: {detail}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// What is wrong and what is accepted.
        detail: String,
    },
    /// TLS could not be set up (before connecting).
    #[error("cannot set up TLS for PostgreSQL: {detail}")]
    Tls {
        /// What failed and what to do.
        detail: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The server could not be reached, refused the credentials, lacks the
    /// database, or failed otherwise while connecting.
    #[error("cannot connect to PostgreSQL {target}: {sentence}")]
    Connect {
        /// `user@host:port/database`.
        target: String,
        /// What happened and what to fix.
        sentence: String,
        /// Which kind of failure.
        kind: ConnectFailure,
        /// The client's error.
        #[source]
        source: BoxError,
    },
    /// The schema was written by a newer chatdeploy.
    #[error(
        "the chatdeploy schema \"{schema}\" in PostgreSQL {target} has version {found}, newer than \
         version {supported} that this chatdeploy understands; it is not downgraded: upgrade the \
         bot to a newer chatdeploy (every replica), or point it at another schema"
    )]
    TooNew {
        /// `user@host:port/database`.
        target: String,
        /// The PostgreSQL schema.
        schema: String,
        /// The version found.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// The schema holds tables that are not chatdeploy's (or chatdeploy's
    /// tables in a state this build does not recognise).
    #[error(
        "the PostgreSQL schema \"{schema}\" in {target} is not a chatdeploy schema ({detail}); \
         nothing was changed: choose another schema with with_schema (or \
         CHATDEPLOY_POSTGRES_SCHEMA), or move those tables away"
    )]
    Foreign {
        /// `user@host:port/database`.
        target: String,
        /// The PostgreSQL schema.
        schema: String,
        /// What was found.
        detail: String,
    },
    /// A query while checking or migrating the schema failed.
    #[error("cannot prepare the chatdeploy schema \"{schema}\" in PostgreSQL {target}: {sentence}")]
    Schema {
        /// `user@host:port/database`.
        target: String,
        /// The PostgreSQL schema.
        schema: String,
        /// What happened and what to fix.
        sentence: String,
        /// The client's error.
        #[source]
        source: BoxError,
    },
}

impl OpenStoreError {
    /// The kind of connection failure, for [`OpenStoreError::Connect`].
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match self {
            Self::Connect { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// What went wrong while connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Nothing listens there, or the host is unknown or unreachable.
    Unreachable,
    /// No answer in time.
    Timeout,
    /// The user name or password was refused.
    Authentication,
    /// The database does not exist.
    MissingDatabase,
    /// The TLS handshake failed (or the server does not offer TLS).
    Tls,
    /// The user lacks a privilege.
    Permission,
    /// Anything else.
    Other,
}

/// One failure, classified, with the sentence a person reads.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ConnectFailure,
    pub(crate) sentence: String,
    pub(crate) source: BoxError,
}

/// Where the failure happened, for the sentence.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `user@host:port/database`.
    pub(crate) label: String,
    pub(crate) user: String,
    pub(crate) database: String,
    pub(crate) schema: String,
    pub(crate) pool_size: usize,
}

/// `error: cause: cause` (tokio-postgres's `Display` leaves out its cause).
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // An io::Error's source() skips the error it wraps.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        current = e.source();
    }
    None
}

/// What to do about a failed TLS handshake.
fn tls_hint(error: &(dyn std::error::Error + 'static), detail: &str) -> &'static str {
    use rustls::CertificateError as C;
    match rustls_error(error) {
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature)) => {
            "the server's certificate is not signed by a trusted root: set sslrootcert to the \
             PEM file of the CA that signed it"
        }
        Some(rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        )) => {
            "the server's certificate does not name the host in the connection string: connect \
             with a name the certificate lists, or use sslmode=verify-ca"
        }
        Some(rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        )) => "the server's certificate is expired or not valid yet: renew it on the server",
        _ if detail.contains("does not support TLS") => {
            "the server does not offer TLS: enable ssl on the server, or use sslmode=prefer or \
             disable on a network you trust"
        }
        _ => {
            "check sslmode and, for verify-ca or verify-full, that sslrootcert holds the CA that \
             signed the server's certificate"
        }
    }
}

impl Target {
    /// Classifies a tokio-postgres error.
    pub(crate) fn classify(&self, error: tokio_postgres::Error) -> Failure {
        let detail = chain(&error);
        let (kind, sentence) = if let Some(db) = error.as_db_error() {
            let code = db.code();
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                (
                    ConnectFailure::Authentication,
                    format!(
                        "the server refused user \"{}\" ({}); check the user name and password in \
                         the connection string, and that pg_hba.conf lets this user connect from here",
                        self.user,
                        db.message()
                    ),
                )
            } else if *code == SqlState::INVALID_CATALOG_NAME {
                (
                    ConnectFailure::MissingDatabase,
                    format!(
                        "database \"{}\" does not exist; create it (createdb {}) or fix the \
                         database name in the connection string",
                        self.database, self.database
                    ),
                )
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                (
                    ConnectFailure::Permission,
                    format!(
                        "user \"{}\" lacks a privilege ({}); grant it CREATE on the database, or \
                         create the schema \"{}\" owned by it beforehand",
                        self.user,
                        db.message(),
                        self.schema
                    ),
                )
            } else if *code == SqlState::TOO_MANY_CONNECTIONS {
                (
                    ConnectFailure::Other,
                    format!(
                        "the server has no connection slot left ({}); raise max_connections or \
                         lower the pool size ({}) of each replica",
                        db.message(),
                        self.pool_size
                    ),
                )
            } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
                (
                    ConnectFailure::Other,
                    format!(
                        "{} (the chatdeploy schema \"{}\" or one of its tables is gone; restore \
                         it from a backup, or restart the bot to start with an empty one)",
                        db.message(),
                        self.schema
                    ),
                )
            } else {
                (
                    ConnectFailure::Other,
                    format!("{} (SQLSTATE {})", db.message(), code.code()),
                )
            }
        } else if detail.starts_with("error performing TLS handshake")
            || rustls_error(&error).is_some()
        {
            (
                ConnectFailure::Tls,
                format!("{detail}; {}", tls_hint(&error, &detail)),
            )
        } else if detail.starts_with("timeout waiting for server") {
            (
                ConnectFailure::Timeout,
                format!(
                    "{detail}; check that the host and port are right and that no firewall \
                     drops the connection"
                ),
            )
        } else if detail.starts_with("error connecting to server") {
            let hint = match io_kind(&error) {
                Some(std::io::ErrorKind::ConnectionRefused) => {
                    "nothing accepts connections there: is PostgreSQL running, and are the host \
                     and port in the connection string right?"
                }
                _ => "check the host and port in the connection string and that the server is up",
            };
            (ConnectFailure::Unreachable, format!("{detail}; {hint}"))
        } else if error.is_closed() {
            (
                ConnectFailure::Unreachable,
                format!("{detail}; the server closed the connection (restarted or stopped?)"),
            )
        } else {
            (ConnectFailure::Other, detail)
        };
        Failure {
            kind,
            sentence,
            source: Box::new(error),
        }
    }

    /// Classifies a failure to get a pooled connection.
    pub(crate) fn classify_pool(
        &self,
        error: PoolError,
        connect_timeout: Duration,
        wait_timeout: Duration,
    ) -> Failure {
        match error {
            PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
                self.classify(e)
            }
            PoolError::Timeout(TimeoutType::Wait) => Failure {
                kind: ConnectFailure::Timeout,
                sentence: format!(
                    "all {} pooled connections stayed busy for {wait_timeout:?}; the database is \
                     slow or overloaded (or raise the pool size)",
                    self.pool_size
                ),
                source: Box::new(error),
            },
            PoolError::Timeout(_) => Failure {
                kind: ConnectFailure::Timeout,
                sentence: format!(
                    "no connection within {connect_timeout:?}; check that the host and port are \
                     right, that the server is up and that no firewall drops the connection"
                ),
                source: Box::new(error),
            },
            PoolError::Closed => Failure {
                kind: ConnectFailure::Other,
                sentence: "the store was closed".to_owned(),
                source: Box::new(error),
            },
            other => Failure {
                kind: ConnectFailure::Other,
                sentence: chain(&other),
                source: Box::new(other),
            },
        }
    }

    /// An [`OpenStoreError::Connect`].
    pub(crate) fn connect_error(&self, failure: Failure) -> OpenStoreError {
        OpenStoreError::Connect {
            target: self.label.clone(),
            sentence: failure.sentence,
            kind: failure.kind,
            source: failure.source,
        }
    }

    /// A [`StateError::Unavailable`] for `what` (e.g. "remembering an event").
    pub(crate) fn state_error(&self, what: &str, failure: Failure) -> StateError {
        StateError::Unavailable {
            message: format!(
                "{what} in PostgreSQL {} failed: {}",
                self.label, failure.sentence
            ),
            source: Some(failure.source),
        }
    }

    /// An [`AuditError::Unavailable`].
    pub(crate) fn audit_error(&self, failure: &Failure) -> AuditError {
        AuditError::Unavailable {
            sink: format!("postgres audit {} schema {}", self.label, self.schema),
            message: failure.sentence.clone(),
        }
    }
}

/// A stored record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("stored {what} {key} cannot be decoded: {source}")]
pub(crate) struct DecodeError {
    pub(crate) what: &'static str,
    pub(crate) key: String,
    #[source]
    pub(crate) source: serde_json::Error,
}

/// Failures inside one operation, before they become the caller's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("pool: {0}")]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("cannot encode the record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("value out of range: {0}")]
    Range(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the server closed the connection (restarted, or the session was terminated?)")]
    Closed,
}

impl OpError {
    /// Classifies it with `target`'s names.
    pub(crate) fn into_failure(
        self,
        target: &Target,
        connect_timeout: Duration,
        wait_timeout: Duration,
    ) -> Failure {
        match self {
            Self::Postgres(e) => target.classify(e),
            Self::Pool(e) => target.classify_pool(e, connect_timeout, wait_timeout),
            Self::Timeout(after) => Failure {
                kind: ConnectFailure::Timeout,
                sentence: format!(
                    "PostgreSQL did not answer within {after:?}; it is down, unreachable or \
                     overloaded (a long lock?)"
                ),
                source: Box::new(self),
            },
            other => Failure {
                kind: ConnectFailure::Other,
                sentence: other.to_string(),
                source: Box::new(other),
            },
        }
    }
}
