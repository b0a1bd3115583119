//! [`SsmBackend`]: the [`DeployBackend`] on AWS Systems Manager Automation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::StepExecution;
use chatdeploy_core::ExecutionId;
use chatdeploy_core::backend::{BackendError, DocumentDescription, DocumentParameter};

use crate::deploy::execution_subject;
use crate::errors::{self, Operation, Subject};
use crate::gate::ParsedDocument;
use crate::{BuildSsmBackendError, SsmBackendBuilder};

/// How long the caller's identity is trusted before it is asked again
/// (credentials rotate; the role behind them rarely changes).
const IDENTITY_TTL: Duration = Duration::from_secs(15 * 60);

/// What the backend remembers between calls: who it is, and the documents
/// it has read, per version (a version's content never changes).
#[derive(Debug, Default)]
pub(crate) struct Memo {
    identity: Option<(String, Instant)>,
    documents: HashMap<(String, String), Arc<ParsedDocument>>,
}

/// Runs releases as SSM Automation executions.
///
/// ```no_run
/// # async fn run() -> Result<(), chatdeploy_aws::BuildSsmBackendError> {
/// use chatdeploy_aws::SsmBackend;
///
/// // Default credential chain and region, TLS by rustls with ring.
/// let backend = SsmBackend::from_env().await?;
/// # let _ = backend;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SsmBackend {
    pub(crate) client: Client,
    /// Asks who the bot is (approval gates, telling its decisions apart).
    pub(crate) sts: Option<aws_sdk_sts::Client>,
    /// Simulates the bot's own policies (`check`).
    pub(crate) iam: Option<aws_sdk_iam::Client>,
    pub(crate) region: String,
    /// The provider the default chain found (only with `from_env`), kept
    /// for [`SsmBackend::check_credentials`].
    pub(crate) credentials: Option<aws_sdk_ssm::config::SharedCredentialsProvider>,
    pub(crate) memo: Arc<Mutex<Memo>>,
}

impl fmt::Debug for SsmBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsmBackend")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SsmBackend {
    /// A builder, for a client configured by the caller.
    pub fn builder() -> SsmBackendBuilder {
        SsmBackendBuilder::default()
    }

    /// A backend on a configured client; `region` is used for console links.
    /// It has no STS or IAM client (see [`SsmBackendBuilder::with_sts_client`]).
    pub fn from_client(client: Client, region: impl Into<String>) -> Self {
        Self {
            client,
            sts: None,
            iam: None,
            region: region.into(),
            credentials: None,
            memo: Arc::default(),
        }
    }

    /// A backend with the default credential chain and region (environment,
    /// profile, container and instance credentials).
    ///
    /// # Errors
    ///
    /// [`BuildSsmBackendError::MissingRegion`] when no region is configured.
    pub async fn from_env() -> Result<Self, BuildSsmBackendError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::https_client())
            .timeout_config(crate::http::default_timeouts())
            .load()
            .await;
        let mut backend = Self::builder()
            .with_client(Client::new(&config))
            .with_sts_client(aws_sdk_sts::Client::new(&config))
            .with_iam_client(aws_sdk_iam::Client::new(&config))
            .build()?;
        backend.credentials = config.credentials_provider();
        Ok(backend)
    }

    /// Whether the default credential chain yields credentials, for
    /// preflight checks (backends from [`SsmBackend::from_env`]).
    ///
    /// # Errors
    ///
    /// A sentence saying why no credentials could be loaded.
    pub async fn check_credentials(&self) -> Result<(), String> {
        use aws_sdk_ssm::config::ProvideCredentials;
        let Some(provider) = &self.credentials else {
            return Err("no credentials provider is configured".to_owned());
        };
        provider
            .provide_credentials()
            .await
            .map(|_| ())
            .map_err(|error| {
                // Each cause once: the SDK's errors repeat their summary.
                let mut text = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    let said = cause.to_string();
                    if !text.contains(&said) {
                        text.push_str(": ");
                        text.push_str(&said);
                    }
                    source = cause.source();
                }
                if text.contains("/sso/cache/") {
                    text.push_str("; the SSO login is missing or expired: run `aws sso login`");
                }
                text
            })
    }

    /// The document's declaration at `version` (a pinned
    /// `document_version`), or at its default version when `None`.
    ///
    /// # Errors
    ///
    /// [`BackendError::NotFound`] when the document or that version does
    /// not exist, and the other [`BackendError`]s of a call.
    pub async fn describe_version(
        &self,
        document: &str,
        version: Option<&str>,
    ) -> Result<DocumentDescription, BackendError> {
        let subject = Subject {
            operation: Operation::DescribeDocument,
            what: match version {
                Some(version) => format!("version {version} of document {document}"),
                None => format!("document {document}"),
            },
            token: None,
        };
        errors::called(subject.operation);
        let output = self
            .client
            .describe_document()
            .name(document)
            .set_document_version(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        let Some(doc) = output.document() else {
            return Err(BackendError::NotFound { what: subject.what });
        };
        Ok(DocumentDescription {
            name: doc.name().unwrap_or(document).to_owned(),
            version: doc
                .default_version()
                .or(doc.document_version())
                .map(str::to_owned),
            parameters: doc
                .parameters()
                .iter()
                .map(|p| DocumentParameter {
                    name: p.name().unwrap_or_default().to_owned(),
                    kind: p.r#type().map_or("String", |t| t.as_str()).to_owned(),
                    default_value: p.default_value().map(str::to_owned),
                    description: p.description().map(str::to_owned),
                })
                .collect(),
        })
    }

    /// The region used for console links.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn memo(&self) -> MutexGuard<'_, Memo> {
        self.memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who the bot is, as AWS names it (`sts:GetCallerIdentity`, which
    /// needs no permission), cached for a while.
    ///
    /// # Errors
    ///
    /// [`BackendError`] when STS cannot be asked (no STS client, no
    /// credentials, unreachable).
    pub async fn identity(&self) -> Result<String, BackendError> {
        if let Some((arn, at)) = &self.memo().identity
            && at.elapsed() < IDENTITY_TTL
        {
            return Ok(arn.clone());
        }
        let subject = Subject {
            operation: Operation::GetCallerIdentity,
            what: "the caller's identity".to_owned(),
            token: None,
        };
        let Some(sts) = &self.sts else {
            return Err(BackendError::Other {
                operation: subject.operation.name().to_owned(),
                message: "this backend has no STS client, so it cannot tell who the bot is"
                    .to_owned(),
            });
        };
        errors::called(subject.operation);
        let output = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        let arn = output.arn().ok_or_else(|| BackendError::Other {
            operation: subject.operation.name().to_owned(),
            message: "the response has no Arn".to_owned(),
        })?;
        self.memo().identity = Some((arn.to_owned(), Instant::now()));
        Ok(arn.to_owned())
    }

    /// The identity if it is known or can be asked now; `None` otherwise
    /// (decisions are then not attributed to the bot).
    pub(crate) async fn identity_if_known(&self) -> Option<String> {
        match self.identity().await {
            Ok(arn) => Some(arn),
            Err(error) => {
                tracing::debug!(%error, "the caller's identity is unknown");
                None
            }
        }
    }

    /// Every step execution of `execution`, page by page, for executions
    /// whose step list `GetAutomationExecution` truncated.
    pub(crate) async fn all_steps(
        &self,
        execution: &ExecutionId,
    ) -> Result<Vec<StepExecution>, BackendError> {
        let subject = execution_subject(Operation::DescribeAutomationStepExecutions, execution);
        let mut steps = Vec::new();
        let mut token: Option<String> = None;
        loop {
            errors::called(subject.operation);
            let page = self
                .client
                .describe_automation_step_executions()
                .automation_execution_id(execution.as_str())
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| errors::from_sdk(&subject, e))?;
            steps.extend(page.step_executions().iter().cloned());
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(steps),
            }
        }
    }

    /// A document's content for `version` (its default version when
    /// `None`), parsed, cached per version.
    pub(crate) async fn parsed_document(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(String, Arc<ParsedDocument>), BackendError> {
        let version = match version {
            Some(version) => version.to_owned(),
            None => self
                .describe_version(name, None)
                .await?
                .version
                .unwrap_or_else(|| "$DEFAULT".to_owned()),
        };
        let key = (name.to_owned(), version.clone());
        if let Some(parsed) = self.memo().documents.get(&key) {
            return Ok((version, Arc::clone(parsed)));
        }
        let subject = Subject {
            operation: Operation::GetDocument,
            what: format!("document {name} version {version}"),
            token: None,
        };
        errors::called(subject.operation);
        let output = self
            .client
            .get_document()
            .name(name)
            .document_version(&version)
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        let content = output.content().unwrap_or_default();
        let parsed = ParsedDocument::parse(content).map_err(|message| BackendError::Other {
            operation: subject.operation.name().to_owned(),
            message: format!("document {name} version {version}: {message}"),
        })?;
        let parsed = Arc::new(parsed);
        let version = output.document_version().unwrap_or(&version).to_owned();
        self.memo()
            .documents
            .insert((name.to_owned(), version.clone()), Arc::clone(&parsed));
        Ok((version, parsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    use chatdeploy_core::backend::DeployBackend;

    fn client(region: Option<&str>) -> Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::for_tests())
            .region(region.map(|r| Region::new(r.to_owned())))
            .build();
        Client::from_conf(config)
    }

    #[test]
    fn builder_validates() {
        assert!(matches!(
            SsmBackend::builder().build(),
            Err(BuildSsmBackendError::MissingClient)
        ));
        assert!(matches!(
            SsmBackend::builder().with_client(client(None)).build(),
            Err(BuildSsmBackendError::MissingRegion)
        ));
        let backend = SsmBackend::builder()
            .with_client(client(Some("eu-west-1")))
            .with_region("us-east-2")
            .build()
            .unwrap();
        assert_eq!(backend.region(), "us-east-2");
    }

    #[test]
    fn console_link_names_region_and_execution() {
        let backend = SsmBackend::from_client(client(None), "us-east-1");
        assert_eq!(
            backend
                .execution_url(&ExecutionId::new("abc-123"))
                .as_deref(),
            Some(
                "https://us-east-1.console.aws.amazon.com/systems-manager/automation/execution/\
                 abc-123?region=us-east-1"
            )
        );
    }
}
