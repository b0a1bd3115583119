//! Real SDK clients pointed at an [`SsmEmulator`].

use std::time::Duration;

use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};

use super::SsmEmulator;

/// Quick retries: tests that inject faults should not wait long.
fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(50))
}

fn credentials(access_key: &str) -> Credentials {
    Credentials::new(access_key, "test", None, None, "emulator")
}

impl SsmEmulator {
    /// A real SDK client for this emulator: static test credentials with
    /// the access key `test`, region `us-east-1`, quick retries.
    pub fn client(&self) -> aws_sdk_ssm::Client {
        self.client_as("test")
    }

    /// Like [`SsmEmulator::client`], with another access key (map it to an
    /// IAM identity with [`SsmEmulatorBuilder::identity`](super::SsmEmulatorBuilder::identity)).
    pub fn client_as(&self, access_key: &str) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::https_client())
            .endpoint_url(self.url())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(retry_config())
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// A real STS client for this emulator, signing with `access_key`:
    /// its `GetCallerIdentity` answers the ARN the key is mapped to.
    pub fn sts_client_as(&self, access_key: &str) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .http_client(crate::https_client())
            .endpoint_url(self.url())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(retry_config())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    /// A real IAM client for this emulator, signing with `access_key`: its
    /// `SimulatePrincipalPolicy` answers as [`SsmEmulator::deny_action`]
    /// set.
    pub fn iam_client_as(&self, access_key: &str) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .http_client(crate::https_client())
            .endpoint_url(self.url())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(credentials(access_key))
            .retry_config(retry_config())
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// An [`SsmBackend`](crate::SsmBackend) on the real SDK (SSM, STS and IAM),
    /// talking to this emulator as the access key `test`.
    pub fn backend(&self) -> crate::SsmBackend {
        self.backend_as("test")
    }

    /// Like [`SsmEmulator::backend`], signing with `access_key` (map it to
    /// an identity with [`SsmEmulator::set_identity`]).
    pub fn backend_as(&self, access_key: &str) -> crate::SsmBackend {
        crate::SsmBackend::builder()
            .with_client(self.client_as(access_key))
            .with_sts_client(self.sts_client_as(access_key))
            .with_iam_client(self.iam_client_as(access_key))
            .with_region("us-east-1")
            .build()
            .unwrap_or_else(|_| {
                crate::SsmBackend::from_client(self.client_as(access_key), "us-east-1")
            })
    }
}
