//! The operations: requests in, shapes out, state in between.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::RecordedCall;
use super::document::Document;
use super::faults::Faults;
use super::runner::{Ctx, Execution};
use super::wire::{WireError, document_description};

/// Everything the emulator holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) documents: BTreeMap<String, Document>,
    pub(crate) executions: Vec<Execution>,
    pub(crate) tokens: HashMap<String, usize>,
    pub(crate) calls: Vec<RecordedCall>,
    pub(crate) faults: Faults,
    pub(crate) failures: BTreeMap<(String, String), String>,
}

fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, WireError> {
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
    fn execution(&mut self, body: &Value) -> Result<&mut Execution, WireError> {
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
            "DescribeDocument" => {
                let name = required(body, "Name")?;
                let doc = self.documents.get(name).ok_or_else(|| {
                    WireError::client(
                        "InvalidDocument",
                        format!("Document with name {name} does not exist."),
                    )
                })?;
                Ok(json!({ "Document": document_description(doc) }))
            }
            "StartAutomationExecution" => self.start(body, caller, ctx),
            "GetAutomationExecution" => {
                let execution = self.execution(body)?;
                execution.advance(ctx);
                Ok(json!({ "AutomationExecution": execution.to_json() }))
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
            "DescribeAutomationExecutions" => Ok(self.describe_executions(body, ctx)),
            other => Err(WireError::client(
                "UnknownOperationException",
                format!("Operation {other} is not supported by the emulator"),
            )),
        }
    }

    fn create_document(&mut self, body: &Value) -> Result<Value, WireError> {
        let name = required(body, "Name")?;
        let content = required(body, "Content")?;
        if self.documents.contains_key(name) {
            return Err(WireError::client(
                "DocumentAlreadyExists",
                "Document with same name already exists",
            ));
        }
        let format = text(body, "DocumentFormat").unwrap_or("JSON");
        let kind = text(body, "DocumentType").unwrap_or("Command");
        let doc = Document::parse(name, content, Some(format), kind)?;
        let description = document_description(&doc);
        self.documents.insert(name.to_owned(), doc);
        Ok(json!({ "DocumentDescription": description }))
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
        let execution = Execution::new(doc, given, params, caller.to_owned(), ctx.now);
        let id = execution.id.clone();
        if let Some(token) = token {
            self.tokens.insert(token, self.executions.len());
        }
        self.executions.push(execution);
        Ok(json!({ "AutomationExecutionId": id }))
    }

    fn describe_executions(&mut self, body: &Value, ctx: &Ctx<'_>) -> Value {
        let filters: Vec<(String, Vec<String>)> = body
            .get("Filters")
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| {
                        let key = f.get("Key")?.as_str()?.to_owned();
                        let values = f.get("Values")?.as_array()?;
                        Some((
                            key,
                            values
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let max = body.get("MaxResults").and_then(Value::as_u64).unwrap_or(50) as usize;
        let mut list = Vec::new();
        // Newest first, as SSM lists them.
        for execution in self.executions.iter_mut().rev() {
            execution.advance(ctx);
            let keep = filters.iter().all(|(key, values)| match key.as_str() {
                "ExecutionId" => values.contains(&execution.id),
                "DocumentNamePrefix" => values
                    .iter()
                    .any(|v| execution.document.starts_with(v.as_str())),
                "ExecutionStatus" => values.iter().any(|v| v == execution.status),
                _ => true,
            });
            if keep && list.len() < max {
                list.push(execution.metadata_json());
            }
        }
        json!({ "AutomationExecutionMetadataList": list })
    }
}
