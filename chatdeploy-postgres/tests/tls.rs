#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! TLS against the test server, which `.ci/postgres.sh` starts with a
//! certificate for localhost and 127.0.0.1 signed by a fresh CA (named by
//! `CHATDEPLOY_TEST_POSTGRES_CA`). Without that variable these tests are
//! skipped (the server then offers no TLS).

mod support;

use chatdeploy_core::state::{StateStore, contract};
use chatdeploy_postgres::{ConnectFailure, SslMode, TlsSettings};

/// The test server's URL, its CA file, and a fresh schema; `None` to skip.
fn setup(test: &str) -> Option<(support::TestDb, String)> {
    let db = support::database(test)?;
    match std::env::var(support::CA_VAR) {
        Ok(ca) if !ca.is_empty() => Some((db, ca)),
        _ => {
            eprintln!(
                "note: {test} skipped: {} is not set (the test server offers no TLS)",
                support::CA_VAR
            );
            drop(db);
            None
        }
    }
}

/// Whether this store's connections (found by application name) use TLS.
async fn uses_tls(db: &support::TestDb, application: &str) -> Vec<bool> {
    db.admin()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&application],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn with_host(url: &str, host: &str, query: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let password = String::from_utf8(config.get_password().unwrap().to_vec()).unwrap();
    format!(
        "postgres://{}:{password}@{host}:{}/{}?{query}",
        config.get_user().unwrap(),
        config.get_ports()[0],
        config.get_dbname().unwrap()
    )
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_connects_over_tls() {
    let Some((db, ca)) = setup("verify_full_connects") else {
        return;
    };
    for host in ["127.0.0.1", "localhost"] {
        let url = with_host(
            db.url(),
            host,
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        );
        let app = format!("{}_{}", db.schema(), host.len());
        let store = chatdeploy_postgres::PostgresStateStore::builder()
            .with_url(url)
            .with_schema(db.schema())
            .with_application_name(&app)
            .build()
            .await
            .unwrap();
        contract::deduplicates_events(&store).await;
        store.lock("any").await.unwrap();
        let tls = uses_tls(&db, &app).await;
        assert!(!tls.is_empty() && tls.iter().all(|t| *t), "{host}: {tls:?}");
        store.sweep_expired_events().await.unwrap();
        db.admin()
            .await
            .batch_execute(&format!("TRUNCATE \"{}\".events", db.schema()))
            .await
            .unwrap();
    }
    db.cleanup().await;
}

#[tokio::test]
async fn the_builders_tls_settings_override_the_url() {
    let Some((db, ca)) = setup("builder_tls_overrides_url") else {
        return;
    };
    let app = db.schema().to_owned();
    let store = db
        .builder()
        .with_url(with_host(db.url(), "localhost", "sslmode=disable"))
        .with_tls(TlsSettings::new(SslMode::VerifyCa).with_root_certificates(&ca))
        .with_application_name(&app)
        .build()
        .await
        .unwrap();
    store.locks().await.unwrap();
    assert_eq!(uses_tls(&db, &app).await, [true]);
    db.cleanup().await;
}

#[tokio::test]
async fn require_encrypts_and_disable_does_not() {
    let Some((db, _ca)) = setup("require_encrypts_disable_does_not") else {
        return;
    };
    for (mode, expected) in [("require", true), ("prefer", true), ("disable", false)] {
        let app = format!("{}_{mode}", &db.schema()[..db.schema().len().min(40)]);
        let store = db
            .builder()
            .with_url(with_host(db.url(), "127.0.0.1", &format!("sslmode={mode}")))
            .with_pool_size(1)
            .with_application_name(&app)
            .build()
            .await
            .unwrap();
        store.locks().await.unwrap();
        assert_eq!(uses_tls(&db, &app).await, [expected], "{mode}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_it_cannot_trust_or_another_name() {
    let Some((db, ca)) = setup("verify_full_refuses") else {
        return;
    };
    // The system's roots do not include the test CA.
    let error = chatdeploy_postgres::PostgresStateStore::builder()
        .with_url(with_host(db.url(), "127.0.0.1", "sslmode=verify-full"))
        .with_schema(db.schema())
        .build()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error.connect_failure(), Some(ConnectFailure::Tls))
            || matches!(error, chatdeploy_postgres::OpenStoreError::Tls { .. }),
        "{error:?}"
    );
    assert!(text.contains("sslrootcert"), "{text}");

    // The certificate names localhost and 127.0.0.1, not db.invalid
    // (reached here through hostaddr).
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let other_name = |mode: &str| {
        format!(
            "host=db.invalid hostaddr=127.0.0.1 port={} user={} password={} dbname={} \
             sslmode={mode} sslrootcert='{ca}'",
            config.get_ports()[0],
            config.get_user().unwrap(),
            String::from_utf8(config.get_password().unwrap().to_vec()).unwrap(),
            config.get_dbname().unwrap(),
        )
    };
    let error = chatdeploy_postgres::PostgresStateStore::builder()
        .with_url(other_name("verify-full"))
        .with_schema(db.schema())
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        error.connect_failure(),
        Some(ConnectFailure::Tls),
        "{error}"
    );
    assert!(
        error.to_string().contains("does not name the host"),
        "{error}"
    );
    // verify-ca checks the chain only.
    let store = chatdeploy_postgres::PostgresStateStore::builder()
        .with_url(other_name("verify-ca"))
        .with_schema(db.schema())
        .build()
        .await
        .unwrap();
    store.locks().await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn the_change_feed_connects_with_the_pools_tls_settings() {
    let Some((db, ca)) = setup("the_change_feed_uses_tls") else {
        return;
    };
    let writer = db.store().await;
    for (query, expected) in [
        (format!("sslmode=verify-full&sslrootcert={ca}"), true),
        ("sslmode=disable".to_owned(), false),
    ] {
        let store = db
            .builder()
            .with_url(with_host(db.url(), "localhost", &query))
            .build()
            .await
            .unwrap();
        let mut feed = store.changes().await.unwrap().unwrap();
        let listen = format!("LISTEN \"{}\"", store.change_channel());
        let tls: Vec<bool> = db
            .admin()
            .await
            .query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.query = $1",
                &[&listen],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(tls, [expected], "{query}");
        let record = contract::sample_deployment(&format!("d-tls-{expected}"), "app", 0);
        writer.create_deployment(&record).await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(1), feed.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(record.id), "{query}");
    }
    db.cleanup().await;
}
