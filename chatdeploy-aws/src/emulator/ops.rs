//! The operations: requests in, shapes out, state in between.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::RecordedCall;
use super::document::Document;
use super::faults::Faults;
use super::ratelimit::RateLimits;
use super::runner::{Ctx, Execution};
use super::tags;
use super::wire::WireError;

/// Everything the emulator holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) documents: BTreeMap<String, Document>,
    pub(crate) executions: Vec<Execution>,
    pub(crate) tokens: HashMap<String, usize>,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) faults: Faults,
    pub(crate) limits: RateLimits,
    pub(crate) failures: BTreeMap<(String, String), String>,
    /// What `SimulatePrincipalPolicy` decides.
    pub(crate) policy: super::iam::Policy,
}

pub(crate) fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

pub(crate) fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, WireError> {
    text(body, key).ok_or_else(|| {
        WireError::client(
            "ValidationException",
            format!("1 validation error detected: {key} is required"),
        )
    })
}

/// A `map<string, list<string>>` member.
fn string_lists(body: &Value, key: &str) -> BTreeMap<String, Vec<String>> {
    body.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let values = v.as_array().map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    });
                    (k.clone(), values.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

impl State {
    pub(crate) fn execution(&mut self, body: &Value) -> Result<&mut Execution, WireError> {
        let id = required(body, "AutomationExecutionId")?;
        self.executions
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| {
                WireError::client(
                    "AutomationExecutionNotFoundException",
                    format!("Automation Execution with id {id} does not exist"),
                )
            })
    }

    /// Runs one operation.
    pub(crate) fn dispatch(
        &mut self,
        operation: &str,
        body: &Value,
        caller: &str,
        ctx: &Ctx<'_>,
    ) -> Result<Value, WireError> {
        match operation {
            "CreateDocument" => self.create_document(body),
            "DescribeDocument" => self.describe_document(body),
            "GetDocument" => self.get_document(body),
            "StartAutomationExecution" => self.start(body, caller, ctx),
            "GetAutomationExecution" => {
                let execution = self.execution(body)?;
                execution.advance(ctx);
                let max_steps = ctx.settings.max_step_executions_in_get;
                Ok(json!({ "AutomationExecution": execution.to_json(max_steps) }))
            }
            "SendAutomationSignal" => {
                let approve = match required(body, "SignalType")? {
                    "Approve" => true,
                    "Reject" => false,
                    other => {
                        return Err(WireError::client(
                            "InvalidAutomationSignalException",
                            format!("Signal {other} is not supported by this emulator"),
                        ));
                    }
                };
                let comment = string_lists(body, "Payload")
                    .remove("Comment")
                    .and_then(|c| c.into_iter().next());
                self.execution(body)?
                    .signal(ctx, caller, approve, comment)?;
                Ok(json!({}))
            }
            "StopAutomationExecution" => {
                self.execution(body)?.stop(ctx)?;
                Ok(json!({}))
            }
            "DescribeAutomationExecutions" => self.describe_executions(body, ctx),
            "DescribeAutomationStepExecutions" => self.describe_step_executions(body, ctx),
            "ListTagsForResource" => self.list_tags(body),
            "AddTagsToResource" => self.add_tags(body),
            "RemoveTagsFromResource" => self.remove_tags(body),
            other => Err(WireError::client(
                "UnknownOperationException",
                format!("Operation {other} is not supported by the emulator"),
            )),
        }
    }

    fn start(&mut self, body: &Value, caller: &str, ctx: &Ctx<'_>) -> Result<Value, WireError> {
        let name = required(body, "DocumentName")?;
        let given = string_lists(body, "Parameters");
        let token = text(body, "ClientToken").map(str::to_lowercase);
        if let Some(index) = token.as_ref().and_then(|t| self.tokens.get(t)) {
            let existing = &self.executions[*index];
            if existing.document == name && existing.given == given {
                return Ok(json!({ "AutomationExecutionId": existing.id }));
            }
            return Err(WireError::client(
                "IdempotentParameterMismatch",
                "The ClientToken was already used with different parameters",
            ));
        }
        let doc = self.documents.get(name).ok_or_else(|| {
            WireError::client(
                "AutomationDefinitionNotFoundException",
                format!("Automation definition {name} is not found"),
            )
        })?;
        if let Some(version) =
            text(body, "DocumentVersion").filter(|v| !matches!(*v, "1" | "$DEFAULT" | "$LATEST"))
        {
            return Err(WireError::client(
                "AutomationDefinitionVersionNotFoundException",
                format!("Version {version} of automation definition {name} is not found"),
            ));
        }
        let params = doc.resolve(&given)?;
        let tags = tags::parse(body, ctx.settings.max_execution_tags)?;
        let mut execution = Execution::new(doc, given, params, caller.to_owned(), ctx.now);
        execution.tags = tags;
        let id = execution.id.clone();
        if let Some(token) = token {
            self.tokens.insert(token, self.executions.len());
        }
        self.executions.push(execution);
        Ok(json!({ "AutomationExecutionId": id }))
    }
}
