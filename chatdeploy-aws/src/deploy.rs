//! [`DeployBackend`] for [`SsmBackend`]: releases as SSM Automation
//! executions.

use async_trait::async_trait;
use aws_sdk_ssm::types::{SignalType, StopType, Tag};
use chatdeploy_core::ExecutionId;
use chatdeploy_core::backend::{
    ApprovalGate, BackendError, DeployBackend, DocumentDescription, ExecutionSnapshot, Signal,
    StartRequest,
};

use crate::SsmBackend;
use crate::errors::{self, Operation, Subject};
use crate::mapping;

/// The tags every start puts on its execution, which the shipped IAM
/// policy requires (`aws:RequestTag/chatdeploy:service`) and keys the
/// bot's later calls on (`aws:ResourceTag/chatdeploy:service`).
pub(crate) fn start_tags(request: &StartRequest) -> [(&'static str, &str); 4] {
    [
        ("chatdeploy:service", request.service.as_str()),
        ("chatdeploy:version", request.version.as_str()),
        ("chatdeploy:deployment", request.deployment.as_str()),
        ("chatdeploy:requester", request.requester.as_str()),
    ]
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

pub(crate) fn execution_subject(operation: Operation, execution: &ExecutionId) -> Subject<'static> {
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
            .client_token(&token);
        for (key, value) in start_tags(request) {
            call = call.tags(tag(key, value)?);
        }
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
