#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The schema: created fresh, re-opened unchanged, migrated once when
//! replicas start together, a newer version and foreign tables refused,
//! and connection failures explained.

mod support;

use chatdeploy_core::ids::EventId;
use chatdeploy_core::state::{StateStore, contract};
use chatdeploy_postgres::{ConnectFailure, OpenStoreError, schema_version};
use chrono::{Duration, Utc};

async fn tables(client: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn version(client: &tokio_postgres::Client, schema: &str) -> Vec<(String, i32)> {
    client
        .query(
            &format!("SELECT application, version FROM \"{schema}\".chatdeploy_schema"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_fresh_schema_is_created_and_reopening_changes_nothing() {
    let db = db_or_skip!("a_fresh_schema_is_created");
    let admin = db.admin().await;
    let store = db.store().await;
    assert_eq!(store.schema(), db.schema());
    assert!(
        store.target().starts_with("chatdeploy@127.0.0.1:")
            && store.target().ends_with("/chatdeploy_test"),
        "{}",
        store.target()
    );
    assert_eq!(
        tables(&admin, db.schema()).await,
        [
            "audit",
            "chatdeploy_schema",
            "deployments",
            "events",
            "history",
            "leases",
            "locks"
        ]
    );
    assert_eq!(
        version(&admin, db.schema()).await,
        [("chatdeploy".to_owned(), schema_version())]
    );
    let later = Utc::now() + Duration::hours(1);
    assert!(
        store
            .remember_event(&EventId::new("Ev-1"), later)
            .await
            .unwrap()
    );
    let record = contract::sample_deployment("d-keep", "app", 0);
    store.create_deployment(&record).await.unwrap();
    drop(store);

    let reopened = db.store().await;
    assert!(
        !reopened
            .remember_event(&EventId::new("Ev-1"), later)
            .await
            .unwrap()
    );
    assert_eq!(reopened.deployment(&record.id).await.unwrap(), Some(record));
    assert_eq!(
        version(&admin, db.schema()).await,
        [("chatdeploy".to_owned(), schema_version())]
    );
    db.cleanup().await;
}

#[tokio::test]
async fn a_version_1_schema_is_migrated_to_leases_and_change_notifications() {
    let db = db_or_skip!("a_version_1_schema_is_migrated");
    let admin = db.admin().await;
    let s = db.schema();
    // A schema as version 1 left it: migration 2's objects undone.
    let store = db.store().await;
    let record = contract::sample_deployment("d-v1", "app", 0);
    store.create_deployment(&record).await.unwrap();
    drop(store);
    admin
        .batch_execute(&format!(
            "DROP TRIGGER deployments_notify ON \"{s}\".deployments; \
             DROP FUNCTION \"{s}\".notify_deployment_changed(); \
             DROP TABLE \"{s}\".leases; \
             UPDATE \"{s}\".chatdeploy_schema SET version = 1;"
        ))
        .await
        .unwrap();
    assert!(!tables(&admin, s).await.contains(&"leases".to_owned()));

    let store = db.store().await;
    assert_eq!(
        version(&admin, s).await,
        [("chatdeploy".to_owned(), schema_version())]
    );
    assert_eq!(schema_version(), 2);
    assert!(tables(&admin, s).await.contains(&"leases".to_owned()));
    let triggers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = 'deployments' AND t.tgname = 'deployments_notify'",
            &[&s],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(triggers, 1);
    // The release written under version 1 is kept, and can be leased.
    assert_eq!(
        store.deployment(&record.id).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store.claimable("replica-a", Utc::now()).await.unwrap(),
        std::slice::from_ref(&record.id)
    );
    let lease = store
        .claim(
            &record.id,
            "replica-a",
            Utc::now(),
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.fence, 1);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let db = db_or_skip!("replicas_starting_together_migrate_once");
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let builder = db.builder().with_pool_size(1);
        starts.spawn(builder.build());
    }
    let mut stores = Vec::new();
    while let Some(result) = starts.join_next().await {
        stores.push(result.unwrap().unwrap());
    }
    let admin = db.admin().await;
    assert_eq!(
        version(&admin, db.schema()).await,
        [("chatdeploy".to_owned(), schema_version())]
    );
    let later = Utc::now() + Duration::hours(1);
    let event = EventId::new("Ev-shared");
    let mut new = 0;
    for store in &stores {
        new += usize::from(store.remember_event(&event, later).await.unwrap());
    }
    assert_eq!(new, 1);
    db.cleanup().await;
}

#[tokio::test]
async fn a_schema_from_a_newer_chatdeploy_is_refused_and_not_downgraded() {
    let db = db_or_skip!("a_newer_schema_is_refused");
    drop(db.store().await);
    let admin = db.admin().await;
    admin
        .batch_execute(&format!(
            "UPDATE \"{}\".chatdeploy_schema SET version = 99",
            db.schema()
        ))
        .await
        .unwrap();
    let error = db.builder().build().await.unwrap_err();
    assert!(
        matches!(error, OpenStoreError::TooNew { found: 99, supported, .. } if supported == schema_version()),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("version 99"), "{text}");
    assert!(text.contains("upgrade the bot"), "{text}");
    assert!(text.contains("not downgraded"), "{text}");
    assert_eq!(version(&admin, db.schema()).await[0].1, 99);
    db.cleanup().await;
}

#[tokio::test]
async fn unrelated_tables_named_like_ours_are_refused_and_left_alone() {
    let db = db_or_skip!("unrelated_tables_are_refused");
    let admin = db.admin().await;
    let s = db.schema();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".events (name text, happened date); \
             INSERT INTO \"{s}\".events VALUES ('launch', '2026-01-01');"
        ))
        .await
        .unwrap();
    let error = db.builder().build().await.unwrap_err();
    assert!(matches!(error, OpenStoreError::Foreign { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("not a chatdeploy schema"), "{text}");
    assert!(text.contains("events"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(tables(&admin, s).await, ["events"]);
    let rows = admin
        .query(&format!("SELECT name FROM \"{s}\".events"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    db.cleanup().await;
}

#[tokio::test]
async fn other_tables_in_the_schema_are_tolerated() {
    let db = db_or_skip!("other_tables_are_tolerated");
    let admin = db.admin().await;
    let s = db.schema();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".notes (body text);"
        ))
        .await
        .unwrap();
    contract::run_all(&db.store().await).await;
    assert!(tables(&admin, s).await.contains(&"notes".to_owned()));
    db.cleanup().await;
}

#[tokio::test]
async fn a_foreign_or_damaged_version_table_is_refused() {
    let db = db_or_skip!("a_foreign_version_table_is_refused");
    let admin = db.admin().await;
    let s = db.schema();
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".chatdeploy_schema (version text);"
        ))
        .await
        .unwrap();
    let error = db.builder().build().await.unwrap_err();
    assert!(matches!(error, OpenStoreError::Foreign { .. }), "{error:?}");
    assert!(error.to_string().contains("chatdeploy_schema"), "{error}");
    db.cleanup().await;

    // Ours, but a table is missing.
    let db = db_or_skip!("a_damaged_schema_is_refused");
    drop(db.store().await);
    let admin = db.admin().await;
    admin
        .batch_execute(&format!("DROP TABLE \"{}\".history", db.schema()))
        .await
        .unwrap();
    let error = db.builder().build().await.unwrap_err();
    assert!(
        error.to_string().contains("table history is missing"),
        "{error}"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn connection_failures_say_what_to_fix() {
    let Some(url) = support::url("connection_failures_say_what_to_fix") else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let port = config.get_ports()[0];
    let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();

    let wrong = format!("postgres://chatdeploy:not-{password}@127.0.0.1:{port}/chatdeploy_test");
    let error = chatdeploy_postgres::PostgresStateStore::connect(&wrong)
        .await
        .unwrap_err();
    assert_eq!(
        error.connect_failure(),
        Some(ConnectFailure::Authentication)
    );
    let text = error.to_string();
    assert!(text.contains("check the user name and password"), "{text}");
    assert!(!text.contains(&password), "{text}");

    let missing = format!("postgres://chatdeploy:{password}@127.0.0.1:{port}/no_such_db");
    let error = chatdeploy_postgres::PostgresStateStore::connect(&missing)
        .await
        .unwrap_err();
    assert_eq!(
        error.connect_failure(),
        Some(ConnectFailure::MissingDatabase)
    );
    let text = error.to_string();
    assert!(
        text.contains("database \"no_such_db\" does not exist"),
        "{text}"
    );
    assert!(text.contains("createdb no_such_db"), "{text}");
}

#[tokio::test]
async fn a_user_without_create_privilege_is_told_what_to_grant() {
    let db = db_or_skip!("a_user_without_create_privilege");
    let admin = db.admin().await;
    let role = format!("r_{}", db.schema());
    let role = &role[..role.len().min(63)];
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}'"
        ))
        .await
        .unwrap();
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let port = config.get_ports()[0];
    let url = format!("postgres://{role}:pw-{role}@127.0.0.1:{port}/chatdeploy_test");
    let result = chatdeploy_postgres::PostgresStateStore::builder()
        .with_url(&url)
        .with_schema(db.schema())
        .build()
        .await;
    admin
        .batch_execute(&format!("DROP ROLE \"{role}\""))
        .await
        .unwrap();
    let error = result.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("grant it CREATE on the database"), "{text}");
    assert!(text.contains(db.schema()), "{text}");
    db.cleanup().await;
}
