//! The versioned schema: chatdeploy's tables live in a PostgreSQL schema of
//! their own (`chatdeploy` by default), with a `chatdeploy_schema` table
//! holding the version.
//!
//! On start, one transaction takes `pg_advisory_xact_lock` (so replicas
//! starting together migrate one after the other), creates the schema if it
//! is missing, refuses a schema that holds tables named like chatdeploy's
//! without being chatdeploy's, refuses a version newer than this build's
//! (never downgrading), and applies the missing migrations. Migration `n`
//! (1-based) takes the schema from version `n - 1` to `n`.
//!
//! Records are stored as JSONB beside a few indexed columns, so fields added
//! to the core's records later (with serde defaults) need no migration.

use tokio_postgres::error::SqlState;

use crate::error::{OpenStoreError, Target};

/// The table holding the schema version.
pub(crate) const VERSION_TABLE: &str = "chatdeploy_schema";

/// What the version table's `application` column holds.
const APPLICATION: &str = "chatdeploy";

/// The migrations, in order; `{s}` stands for the quoted schema name and
/// `{channel}` for the schema's [change channel](change_channel).
/// Append only; never edit a released one.
const MIGRATIONS: &[&str] = &[
    // 1: state (events, locks, deployments, history) and the audit log.
    r#"
    CREATE TABLE {s}.events (
        id         text PRIMARY KEY,
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX events_by_expiry ON {s}.events (expires_at);

    CREATE TABLE {s}.locks (
        service text PRIMARY KEY,
        since   timestamptz NOT NULL,
        record  jsonb NOT NULL
    );

    CREATE TABLE {s}.deployments (
        id           text PRIMARY KEY,
        service      text NOT NULL,
        finalized    boolean NOT NULL,
        requested_at timestamptz NOT NULL,
        revision     bigint NOT NULL CHECK (revision >= 0),
        record       jsonb NOT NULL
    );
    CREATE INDEX deployments_in_flight ON {s}.deployments (requested_at, id) WHERE NOT finalized;
    CREATE INDEX deployments_by_service ON {s}.deployments (service, requested_at);

    CREATE TABLE {s}.history (
        deployment text PRIMARY KEY,
        seq        bigint GENERATED ALWAYS AS IDENTITY,
        service    text NOT NULL,
        ended_at   timestamptz NOT NULL,
        record     jsonb NOT NULL
    );
    CREATE INDEX history_by_service ON {s}.history (service, ended_at DESC, seq);

    CREATE TABLE {s}.audit (
        seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id         text NOT NULL UNIQUE,
        at         timestamptz NOT NULL,
        action     text NOT NULL,
        deployment text,
        record     jsonb NOT NULL
    );
    CREATE INDEX audit_by_deployment ON {s}.audit (deployment, seq) WHERE deployment IS NOT NULL;
    "#,
    // 2: leases (which replica acts on a release), and a notification on
    // `{channel}` of every release written, naming the writing store
    // (`chatdeploy.writer`, set on each of its pooled connections) so that
    // a replica can skip its own.
    r#"
    CREATE TABLE {s}.leases (
        deployment text PRIMARY KEY,
        owner      text,
        fence      bigint NOT NULL CHECK (fence >= 1),
        expires_at timestamptz NOT NULL
    );

    CREATE FUNCTION {s}.notify_deployment_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_catalog.pg_notify('{channel}', pg_catalog.json_build_object(
            'writer', pg_catalog.current_setting('chatdeploy.writer', true),
            'id', NEW.id)::text);
        RETURN NULL;
    END
    $$;

    CREATE TRIGGER deployments_notify AFTER INSERT OR UPDATE ON {s}.deployments
        FOR EACH ROW EXECUTE FUNCTION {s}.notify_deployment_changed();
    "#,
];

/// The tables each version has (cumulative), checked on every start.
const TABLES: &[&[&str]] = &[
    &["events", "locks", "deployments", "history", "audit"],
    &[
        "events",
        "locks",
        "deployments",
        "history",
        "audit",
        "leases",
    ],
];

/// The session setting naming the store that writes (a random ID per
/// store, set on each of its pooled connections); the change notification
/// carries it.
pub(crate) const WRITER_SETTING: &str = "chatdeploy.writer";

/// The `NOTIFY` channel of a schema's changes: `chatdeploy_changes_<schema>`,
/// or, when that is longer than an identifier may be (63 bytes), the
/// schema's first 27 characters and a hash of the whole name. The name is
/// [`valid_name`], so the channel needs no escaping either.
pub(crate) fn change_channel(schema: &str) -> String {
    const PREFIX: &str = "chatdeploy_changes_";
    let plain = format!("{PREFIX}{schema}");
    if plain.len() <= 63 {
        return plain;
    }
    let hash = fnv1a("chatdeploy-changes:", schema);
    let head = schema.get(..27).unwrap_or(schema);
    format!("{PREFIX}{head}_{hash:016x}")
}

/// The schema version this build writes.
pub fn latest_version() -> i32 {
    i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX)
}

/// Whether `name` is a schema name this crate accepts: lowercase letters,
/// digits and underscores, not starting with a digit or `pg_`, at most 63
/// bytes (so it never needs escaping inside double quotes).
pub(crate) fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && name.len() <= 63
        && !name.starts_with("pg_")
}

/// `"name"`, for SQL text (the name is [`valid_name`]).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// The advisory lock key of a schema: FNV-1a over a fixed prefix and the
/// name, the same in every replica.
fn lock_key(schema: &str) -> i64 {
    i64::from_ne_bytes(fnv1a("chatdeploy-schema:", schema).to_ne_bytes())
}

/// FNV-1a over `prefix` and `name`.
fn fnv1a(prefix: &str, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prefix.bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Checks the schema and brings it to [`latest_version`] in one
/// transaction under the advisory lock. Returns the version found.
pub(crate) async fn prepare(
    client: &mut deadpool_postgres::Client,
    target: &Target,
) -> Result<i32, OpenStoreError> {
    let schema = target.schema.as_str();
    let s = quoted(schema);
    let fail = |what: &str, e: tokio_postgres::Error| {
        let failure = target.classify(e);
        OpenStoreError::Schema {
            target: target.label.clone(),
            schema: schema.to_owned(),
            sentence: format!("{what}: {}", failure.sentence),
            source: failure.source,
        }
    };
    let foreign = |detail: String| OpenStoreError::Foreign {
        target: target.label.clone(),
        schema: schema.to_owned(),
        detail,
    };

    let tx = client
        .transaction()
        .await
        .map_err(|e| fail("starting the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(schema)])
        .await
        .map_err(|e| fail("waiting for other replicas' migration", e))?;
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(|e| fail("looking for the schema", e))?
        .get(0);
    if !exists {
        tracing::info!(schema, "creating the chatdeploy PostgreSQL schema");
        tx.batch_execute(&format!("CREATE SCHEMA {s}"))
            .await
            .map_err(|e| fail("creating the schema", e))?;
    }
    let tables: Vec<String> = tx
        .query(
            "SELECT c.relname FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
             ORDER BY c.relname",
            &[&schema],
        )
        .await
        .map_err(|e| fail("listing the schema's tables", e))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let has = |name: &str| tables.iter().any(|t| t == name);

    let version = if has(VERSION_TABLE) {
        let rows = match tx
            .query(
                &format!("SELECT application, version FROM {s}.{VERSION_TABLE}"),
                &[],
            )
            .await
        {
            Ok(rows) => rows,
            Err(e)
                if e.code() == Some(&SqlState::UNDEFINED_COLUMN)
                    || e.code() == Some(&SqlState::DATATYPE_MISMATCH) =>
            {
                return Err(foreign(format!(
                    "its table {VERSION_TABLE} is not chatdeploy's ({})",
                    crate::error::chain(&e)
                )));
            }
            Err(e) => return Err(fail("reading the schema version", e)),
        };
        let [row] = rows.as_slice() else {
            return Err(foreign(format!(
                "its table {VERSION_TABLE} has {} rows instead of one",
                rows.len()
            )));
        };
        let application: Option<String> = row.try_get(0).unwrap_or(None);
        let version: Option<i32> = row.try_get(1).unwrap_or(None);
        let (Some(APPLICATION), Some(version)) = (application.as_deref(), version) else {
            return Err(foreign(format!(
                "its table {VERSION_TABLE} does not hold a chatdeploy schema version"
            )));
        };
        if version > latest_version() {
            return Err(OpenStoreError::TooNew {
                target: target.label.clone(),
                schema: schema.to_owned(),
                found: version,
                supported: latest_version(),
            });
        }
        let expected = usize::try_from(version)
            .ok()
            .and_then(|v| v.checked_sub(1))
            .and_then(|v| TABLES.get(v))
            .copied()
            .unwrap_or(&[]);
        if let Some(missing) = expected.iter().find(|t| !has(t)) {
            return Err(foreign(format!(
                "it is at chatdeploy schema version {version} but its table {missing} is missing"
            )));
        }
        version
    } else {
        let ours: Vec<&str> = TABLES
            .iter()
            .flat_map(|v| v.iter().copied())
            .filter(|t| has(t))
            .collect();
        if !ours.is_empty() {
            return Err(foreign(format!(
                "it has tables named like chatdeploy's ({}) but no {VERSION_TABLE} table",
                ours.join(", ")
            )));
        }
        tx.batch_execute(&format!(
            "CREATE TABLE {s}.{VERSION_TABLE} (\
                 singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton), \
                 application text NOT NULL, \
                 version     integer NOT NULL CHECK (version >= 0)); \
             INSERT INTO {s}.{VERSION_TABLE} (application, version) VALUES ('{APPLICATION}', 0);"
        ))
        .await
        .map_err(|e| fail("creating the version table", e))?;
        0
    };

    if version < latest_version() {
        let from = usize::try_from(version).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(from) {
            tracing::info!(
                schema,
                to = index + 1,
                "migrating the chatdeploy PostgreSQL schema"
            );
            let sql = migration
                .replace("{s}", &s)
                .replace("{channel}", &change_channel(schema));
            tx.batch_execute(&sql)
                .await
                .map_err(|e| fail(&format!("applying migration {}", index + 1), e))?;
        }
        tx.execute(
            &format!("UPDATE {s}.{VERSION_TABLE} SET version = $1"),
            &[&latest_version()],
        )
        .await
        .map_err(|e| fail("recording the schema version", e))?;
    }
    tx.commit()
        .await
        .map_err(|e| fail("committing the migration", e))?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["chatdeploy", "_x", "chatdeploy_test_12_ab", &"a".repeat(63)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Chatdeploy",
            "1abc",
            "a-b",
            "a\"b",
            "pg_temp",
            "a b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_eq!(lock_key("chatdeploy"), lock_key("chatdeploy"));
        assert_ne!(lock_key("chatdeploy"), lock_key("chatdeploy2"));
    }

    #[test]
    fn every_version_lists_its_tables() {
        assert_eq!(TABLES.len(), MIGRATIONS.len());
        assert_eq!(latest_version(), 2);
        for pair in TABLES.windows(2) {
            assert!(pair[0].iter().all(|t| pair[1].contains(t)), "cumulative");
        }
    }

    #[test]
    fn change_channels_are_identifiers_per_schema() {
        assert_eq!(
            change_channel("chatdeploy"),
            "chatdeploy_changes_chatdeploy"
        );
        let long = "a".repeat(63);
        let longer = format!("{}b", "a".repeat(62));
        for schema in [
            "chatdeploy",
            &"x".repeat(44),
            &"x".repeat(45),
            &long,
            &longer,
        ] {
            let channel = change_channel(schema);
            assert!(channel.len() <= 63, "{channel}");
            assert!(valid_name(&channel), "{channel}");
            assert_eq!(channel, change_channel(schema), "stable");
        }
        assert_ne!(change_channel(&long), change_channel(&longer));
        assert!(change_channel(&long).starts_with("chatdeploy_changes_aaaa"));
        assert_eq!(change_channel(&"x".repeat(44)).len(), 63);
    }
}
