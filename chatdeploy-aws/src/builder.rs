//! [`SsmBackendBuilder`]: an [`SsmBackend`] on clients the caller configured.

use std::sync::Arc;

use aws_sdk_ssm::Client;

use crate::SsmBackend;

/// Why an [`SsmBackend`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildSsmBackendError {
    /// No client was given.
    #[error("no SSM client was given; call SsmBackend::builder().with_client(…)")]
    MissingClient,
    /// Neither the builder nor the client's configuration names a region.
    #[error("no AWS region is configured; set AWS_REGION (or region in the AWS profile)")]
    MissingRegion,
    /// A tag value SSM would refuse.
    #[error("invalid tag: {0}")]
    InvalidTag(String),
}

/// Builds an [`SsmBackend`] from a configured client.
///
/// ```
/// use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
/// use chatdeploy_aws::{SsmBackend, https_client};
///
/// let config = aws_sdk_ssm::Config::builder()
///     .behavior_version(BehaviorVersion::latest())
///     .http_client(https_client())
///     .credentials_provider(Credentials::for_tests())
///     .region(Region::new("eu-west-1"))
///     .build();
/// let backend = SsmBackend::builder()
///     .with_client(aws_sdk_ssm::Client::from_conf(config))
///     .build()
///     .unwrap();
/// assert_eq!(backend.region(), "eu-west-1");
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct SsmBackendBuilder {
    client: Option<Client>,
    sts: Option<aws_sdk_sts::Client>,
    iam: Option<aws_sdk_iam::Client>,
    region: Option<String>,
}

impl SsmBackendBuilder {
    /// The SDK client to call SSM with.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The STS client that tells who the bot is. Without one, approval
    /// gates cannot be verified (services with `approval = "document"`
    /// are then refused) and the bot's own decisions cannot be told from
    /// others'.
    pub fn with_sts_client(mut self, sts: aws_sdk_sts::Client) -> Self {
        self.sts = Some(sts);
        self
    }

    /// The IAM client that simulates the bot's own policies
    /// ([`SsmBackend::simulate_permissions`]). Without one, the permissions
    /// cannot be verified.
    pub fn with_iam_client(mut self, iam: aws_sdk_iam::Client) -> Self {
        self.iam = Some(iam);
        self
    }

    /// The region for console links; defaults to the client's region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Checks and builds.
    ///
    /// # Errors
    ///
    /// [`BuildSsmBackendError`] without a client or a region.
    pub fn build(self) -> Result<SsmBackend, BuildSsmBackendError> {
        let client = self.client.ok_or(BuildSsmBackendError::MissingClient)?;
        let region = self
            .region
            .or_else(|| client.config().region().map(ToString::to_string))
            .filter(|r| !r.trim().is_empty())
            .ok_or(BuildSsmBackendError::MissingRegion)?;
        Ok(SsmBackend {
            client,
            sts: self.sts,
            iam: self.iam,
            region,
            credentials: None,
            memo: Arc::default(),
        })
    }
}
