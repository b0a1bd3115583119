#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The state store and audit sink contracts, and the audit sink's own
//! promises, against a real PostgreSQL (see `support`).

mod support;

use chatdeploy_core::audit::{self, AuditAction, AuditError, AuditEvent, AuditSink};
use chatdeploy_core::ids::DeploymentId;
use chatdeploy_core::state::{StateError, StateStore, contract};
use chatdeploy_postgres::{PostgresAuditSink, PostgresStateStore};

#[tokio::test]
async fn the_store_satisfies_the_state_store_contract() {
    let db = db_or_skip!("the_store_satisfies_the_state_store_contract");
    contract::run_all(&db.store().await).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_satisfies_the_contract_on_the_multi_threaded_runtime() {
    let db = db_or_skip!("the_contract_on_the_multi_threaded_runtime");
    contract::run_all(&db.store().await).await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_store_satisfies_the_contract_behind_a_trait_object_with_one_connection() {
    let db = db_or_skip!("the_contract_behind_a_trait_object");
    let store: Box<dyn StateStore> =
        Box::new(db.builder().with_pool_size(1).build().await.unwrap());
    contract::run_all(&store).await;
    db.cleanup().await;
}

#[tokio::test]
async fn records_keep_every_field_through_jsonb() {
    let db = db_or_skip!("records_keep_every_field_through_jsonb");
    let store = db.store().await;
    let mut record = contract::sample_deployment("d-fields", "app", 0);
    record.ticket = Some("OPS-1 \u{0}with a NUL".into());
    record.failure = Some("quote \" backslash \\ emoji 🚀".into());
    record.requested_at += chrono::Duration::nanoseconds(123_456_789);
    store.create_deployment(&record).await.unwrap();
    let stored = store.deployment(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.failure, record.failure);
    assert_eq!(stored.requested_at, record.requested_at, "full precision");
    assert_eq!(stored.ticket.as_deref(), Some("OPS-1 \u{fffd}with a NUL"));
    db.cleanup().await;
}

#[tokio::test]
async fn the_audit_sink_satisfies_the_audit_contract() {
    let db = db_or_skip!("the_audit_sink_satisfies_the_audit_contract");
    let store = db.store().await;
    let sink = store.audit_sink();
    // A replica whose pool is closed: every write fails.
    let closed = db.store().await;
    let broken = closed.audit_sink();
    closed.close();
    audit::contract::run_all(&sink, async || sink.events().await.unwrap(), &broken).await;
    // Another replica on the same schema keeps one record per ID too.
    let other = db.store().await.audit_sink();
    audit::contract::a_repeated_id_is_kept_once(&other, async || sink.events().await.unwrap())
        .await;
    db.cleanup().await;
}

fn event(id: &str, deployment: Option<&str>) -> AuditEvent {
    let mut event = AuditEvent::new(AuditAction::Started, Some("U01".into())).with_id(id);
    event.deployment = deployment.map(DeploymentId::new);
    event.service = Some("app".into());
    event
}

#[tokio::test]
async fn the_audit_sink_keeps_each_record_once_in_order() {
    let db = db_or_skip!("the_audit_sink_keeps_each_record_once_in_order");
    let store = db.store().await;
    let sink = store.audit_sink();
    assert_eq!(sink.schema(), db.schema());
    let first = event("d-1:requested", Some("d-1"));
    let second = event("d-2:requested", Some("d-2"));
    let third = event("d-1:started", Some("d-1"));
    let loose = event("lock-1", None);
    for e in [&first, &second, &first, &third, &loose, &third] {
        sink.record(e).await.unwrap();
    }
    let ids: Vec<String> = sink
        .events()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        ids,
        ["d-1:requested", "d-2:requested", "d-1:started", "lock-1"]
    );
    assert_eq!(
        sink.events_for(&DeploymentId::new("d-1")).await.unwrap(),
        [first, third]
    );
    assert!(
        sink.events_for(&DeploymentId::new("d-9"))
            .await
            .unwrap()
            .is_empty()
    );
    // Another store on the same schema (another replica) sees them, and its
    // copy of a record is dropped too.
    let other = db.store().await.audit_sink();
    other.record(&loose).await.unwrap();
    assert_eq!(other.events().await.unwrap().len(), 4);
    // The sink shares the store's pool and schema with the state.
    contract::run_all(&store).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_one_audit_record_leave_one_row() {
    let db = db_or_skip!("concurrent_copies_of_one_audit_record");
    let a = db.store().await.audit_sink();
    let b = db.store().await.audit_sink();
    let record = event("d-7:signalled", Some("d-7"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let sink = if i % 2 == 0 { a.clone() } else { b.clone() };
        let record = record.clone();
        tasks.spawn(async move { sink.record(&record).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(a.events().await.unwrap(), [record]);
    db.cleanup().await;
}

#[tokio::test]
async fn writes_fail_closed_when_the_schema_is_gone() {
    let db = db_or_skip!("writes_fail_closed_when_the_schema_is_gone");
    let store = db.store().await;
    let sink = store.audit_sink();
    sink.record(&event("before", None)).await.unwrap();
    db.admin()
        .await
        .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", db.schema()))
        .await
        .unwrap();
    let error = sink.record(&event("after", None)).await.unwrap_err();
    let AuditError::Unavailable {
        sink: name,
        message,
    } = &error
    else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(name.contains(db.schema()), "{name}");
    assert!(message.contains("restart the bot"), "{message}");
    let error = store
        .remember_event(
            &"Ev-after".into(),
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StateError::Unavailable { message, .. } if message.contains("remembering an event")),
        "{error}"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn writes_fail_closed_when_the_store_is_closed_or_the_server_goes_away() {
    let db = db_or_skip!("writes_fail_closed_when_closed");
    let store = db
        .builder()
        .with_application_name(db.schema())
        .build()
        .await
        .unwrap();
    let sink = store.audit_sink();
    sink.record(&event("before", None)).await.unwrap();
    // The server ends every connection of this store (as a restart would).
    db.admin()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&db.schema()],
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Broken connections are replaced: after at most one failure per pooled
    // connection, writes succeed again.
    let mut failures = 0;
    loop {
        match sink.record(&event("after-restart", None)).await {
            Ok(()) => break,
            Err(AuditError::Unavailable { .. }) => failures += 1,
            Err(other) => panic!("{other:?}"),
        }
        assert!(failures <= 4, "the pool does not recover");
    }
    store.close();
    let error = sink.record(&event("after-close", None)).await.unwrap_err();
    assert!(error.to_string().contains("closed"), "{error}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_sink_on_a_port_where_nothing_listens_fails_with_what_to_fix() {
    let Some(_) = support::url("a_sink_on_a_closed_port") else {
        return;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = PostgresAuditSink::connect(&format!("postgres://bot:hunter2@127.0.0.1:{port}/x"))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&format!("bot@127.0.0.1:{port}/x")), "{text}");
    assert!(text.contains("is PostgreSQL running"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        error.connect_failure(),
        Some(chatdeploy_postgres::ConnectFailure::Unreachable)
    );
    // The same through the state store's constructor.
    assert!(
        PostgresStateStore::connect(&format!("postgres://bot@127.0.0.1:{port}/x"))
            .await
            .is_err()
    );
}
