//! [`SsmBackend`]: the [`DeployBackend`] on AWS Systems Manager Automation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{SignalType, StepExecution, StopType, Tag};
use chatdeploy_core::ExecutionId;
use chatdeploy_core::backend::{
    ApprovalGate, BackendError, DeployBackend, DocumentDescription, DocumentParameter,
    ExecutionSnapshot, Signal, StartRequest,
};

use crate::errors::{self, Operation, Subject};
use crate::gate::ParsedDocument;
use crate::mapping;

/// How long the caller's identity is trusted before it is asked again
/// (credentials rotate; the role behind them rarely changes).
const IDENTITY_TTL: Duration = Duration::from_secs(15 * 60);

/// What the backend remembers between calls: who it is, and the documents
/// it has read, per version (a version's content never changes).
#[derive(Debug, Default)]
struct Memo {
    identity: Option<(String, Instant)>,
    documents: HashMap<(String, String), Arc<ParsedDocument>>,
}

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
    client: Client,
    /// Asks who the bot is (approval gates, telling its decisions apart).
    sts: Option<aws_sdk_sts::Client>,
    region: String,
    /// The provider the default chain found (only with `from_env`), kept
    /// for [`SsmBackend::check_credentials`].
    credentials: Option<aws_sdk_ssm::config::SharedCredentialsProvider>,
    memo: Arc<Mutex<Memo>>,
}

impl fmt::Debug for SsmBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsmBackend")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
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
            region,
            credentials: None,
            memo: Arc::default(),
        })
    }
}

impl SsmBackend {
    /// A builder, for a client configured by the caller.
    pub fn builder() -> SsmBackendBuilder {
        SsmBackendBuilder::default()
    }

    /// A backend on a configured client; `region` is used for console links.
    /// It has no STS client (see [`SsmBackendBuilder::with_sts_client`]).
    pub fn from_client(client: Client, region: impl Into<String>) -> Self {
        Self {
            client,
            sts: None,
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
    async fn identity_if_known(&self) -> Option<String> {
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
    async fn all_steps(&self, execution: &ExecutionId) -> Result<Vec<StepExecution>, BackendError> {
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
    async fn parsed_document(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(String, Arc<ParsedDocument>), BackendError> {
        let version = match version {
            Some(version) => version.to_owned(),
            None => self
                .describe(name)
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

fn tag(key: &str, value: &str) -> Result<Tag, BackendError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| BackendError::Other {
            operation: Operation::StartAutomationExecution.name().to_owned(),
            message: e.to_string(),
        })
}

fn execution_subject(operation: Operation, execution: &ExecutionId) -> Subject<'static> {
    Subject {
        operation,
        what: format!("execution {execution}"),
        token: None,
    }
}

#[async_trait]
impl DeployBackend for SsmBackend {
    async fn start(&self, request: &StartRequest) -> Result<ExecutionId, BackendError> {
        let token = request.idempotency_token.to_string();
        let subject = Subject {
            operation: Operation::StartAutomationExecution,
            what: format!("document {}", request.document),
            token: Some(&token),
        };
        let mut call = self
            .client
            .start_automation_execution()
            .document_name(&request.document)
            .set_document_version(request.document_version.clone())
            .client_token(&token)
            .tags(tag("chatdeploy:service", &request.service)?)
            .tags(tag("chatdeploy:version", &request.version)?)
            .tags(tag("chatdeploy:deployment", request.deployment.as_str())?)
            .tags(tag("chatdeploy:requester", request.requester.as_str())?);
        for (name, value) in &request.parameters {
            call = call.parameters(name, vec![value.clone()]);
        }
        errors::called(subject.operation);
        let output = call
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        output
            .automation_execution_id()
            .map(ExecutionId::new)
            .ok_or_else(|| BackendError::Other {
                operation: subject.operation.name().to_owned(),
                message: "the response has no AutomationExecutionId".to_owned(),
            })
    }

    async fn snapshot(&self, execution: &ExecutionId) -> Result<ExecutionSnapshot, BackendError> {
        let subject = execution_subject(Operation::GetAutomationExecution, execution);
        errors::called(subject.operation);
        let output = self
            .client
            .get_automation_execution()
            .automation_execution_id(execution.as_str())
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        let Some(found) = output.automation_execution() else {
            return Err(BackendError::NotFound { what: subject.what });
        };
        // A long step list is cut short; read the rest, so that no step
        // (an approval step among them) goes unseen.
        let steps = if found.step_executions_truncated() {
            Some(self.all_steps(execution).await?)
        } else {
            None
        };
        let bot = self.identity_if_known().await;
        Ok(mapping::snapshot(found, steps.as_deref(), bot.as_deref()))
    }

    async fn signal(
        &self,
        execution: &ExecutionId,
        signal: Signal,
        comment: &str,
    ) -> Result<(), BackendError> {
        let subject = execution_subject(Operation::SendAutomationSignal, execution);
        let signal_type = match signal {
            Signal::Approve => SignalType::Approve,
            Signal::Reject => SignalType::Reject,
        };
        errors::called(subject.operation);
        self.client
            .send_automation_signal()
            .automation_execution_id(execution.as_str())
            .signal_type(signal_type)
            .payload("Comment", vec![comment.to_owned()])
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        Ok(())
    }

    async fn cancel(&self, execution: &ExecutionId) -> Result<(), BackendError> {
        let subject = execution_subject(Operation::StopAutomationExecution, execution);
        errors::called(subject.operation);
        self.client
            .stop_automation_execution()
            .automation_execution_id(execution.as_str())
            .r#type(StopType::Cancel)
            .send()
            .await
            .map_err(|e| errors::from_sdk(&subject, e))?;
        Ok(())
    }

    async fn describe(&self, document: &str) -> Result<DocumentDescription, BackendError> {
        self.describe_version(document, None).await
    }

    async fn approval_gate(&self, request: &StartRequest) -> Result<ApprovalGate, BackendError> {
        let identity = self.identity().await?;
        let (version, document) = self
            .parsed_document(&request.document, request.document_version.as_deref())
            .await?;
        Ok(document.gate(&request.parameters, &identity, Some(version)))
    }

    fn execution_url(&self, execution: &ExecutionId) -> Option<String> {
        let region = &self.region;
        Some(format!(
            "https://{region}.console.aws.amazon.com/systems-manager/automation/execution/\
             {execution}?region={region}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};

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
