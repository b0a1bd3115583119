#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The default credential chain as the AWS CLI resolves it: a
//! `credential_process` profile signs the bot's calls, and an SSO profile is
//! understood (its missing login is named, not refused as an unknown
//! profile kind). Profiles come from the environment, so each check runs
//! in a child process of this test binary with its own environment.

mod support;

use std::time::Duration;

use chatdeploy_aws::SsmBackend;
use chatdeploy_core::backend::DeployBackend;

const CHILD: &str = "CHATDEPLOY_PROFILES_CHILD";
const PROCESS_ROLE: &str = "arn:aws:iam::123456789012:role/process-deployer";

const CONFIG: &str = "[profile deployer]\n\
region = us-east-1\n\
credential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"secret\"}'\n\
\n\
[profile sso-user]\n\
region = us-east-1\n\
sso_start_url = https://example.awsapps.com/start\n\
sso_region = us-east-1\n\
sso_account_id = 123456789012\n\
sso_role_name = Deployer\n";

/// Runs `test` of this binary in a child with `profile` selected.
async fn in_child(test: &str, profile: &str, endpoint: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, CONFIG).unwrap();
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture"])
        .env(CHILD, "1")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("HOME", dir.path())
        .env("AWS_PROFILE", profile)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_REGION")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_process_profile_signs_the_calls() {
    if std::env::var_os(CHILD).is_some() {
        let backend = SsmBackend::from_env().await.unwrap();
        backend.check_credentials().await.unwrap();
        assert_eq!(backend.region(), "us-east-1");
        let document = backend.describe(support::DOCUMENT).await.unwrap();
        assert_eq!(document.name, support::DOCUMENT);
        println!("IDENTITY {}", backend.identity().await.unwrap());
        return;
    }
    let emulator = chatdeploy_aws::SsmEmulator::builder()
        .document(support::DOCUMENT, support::SAMPLE)
        .identity("AKIDPROCESS", PROCESS_ROLE)
        .start()
        .await
        .unwrap();
    let output = in_child(
        "a_credential_process_profile_signs_the_calls",
        "deployer",
        &emulator.url(),
    )
    .await;
    assert!(
        output.contains(&format!("IDENTITY {PROCESS_ROLE}")),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_profile_without_a_login_says_so() {
    if std::env::var_os(CHILD).is_some() {
        let backend = SsmBackend::from_env().await.unwrap();
        let why = tokio::time::timeout(Duration::from_secs(20), backend.check_credentials())
            .await
            .unwrap()
            .unwrap_err();
        println!("WHY {why}");
        return;
    }
    let emulator = support::emulator().await;
    let output = in_child(
        "an_sso_profile_without_a_login_says_so",
        "sso-user",
        &emulator.url(),
    )
    .await;
    let why = output
        .lines()
        .find_map(|line| line.strip_prefix("WHY "))
        .unwrap_or_else(|| panic!("{output}"));
    assert!(!why.contains("cargo feature"), "{why}");
    assert!(
        why.to_lowercase().contains("sso") || why.contains("token"),
        "{why}"
    );
}
