//! Executions as awsJson shapes: `AutomationExecution`, `StepExecution`
//! and `AutomationExecutionMetadata`, members as botocore's model names them.

use serde_json::{Map, Value, json};

use super::document::interpolate;
use super::runner::{Execution, StepRun};
use super::wire::{epoch, put};

impl Execution {
    /// The `StepExecution` shape.
    pub(crate) fn step_json(&self, step: &StepRun) -> Value {
        let mut out = Map::new();
        out.insert("StepName".into(), json!(step.def.name));
        out.insert("Action".into(), json!(step.def.action));
        put(
            &mut out,
            "TimeoutSeconds",
            step.def.timeout().map(|t| json!(t.as_secs())),
        );
        out.insert("OnFailure".into(), json!("Abort"));
        out.insert("MaxAttempts".into(), json!(1));
        put(
            &mut out,
            "ExecutionStartTime",
            step.started.map(|t| epoch(self.wall(t))),
        );
        put(
            &mut out,
            "ExecutionEndTime",
            step.ended.map(|t| epoch(self.wall(t))),
        );
        out.insert("StepStatus".into(), json!(step.status));
        // SSM reports inputs as JSON-encoded strings.
        let inputs: Map<String, Value> = step
            .def
            .inputs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => Value::String(interpolate(s, &self.params)),
                    other => other.clone(),
                };
                (k.clone(), Value::String(v.to_string()))
            })
            .collect();
        out.insert("Inputs".into(), Value::Object(inputs));
        if step.def.action == "aws:approve" && !step.decisions.is_empty() {
            let status = match step.status {
                "Success" => "Approved",
                "Failed" => "Rejected",
                _ => "Waiting",
            };
            let decisions: Vec<Value> = step
                .decisions
                .iter()
                .map(|d| {
                    let mut m = Map::new();
                    m.insert("Approver".into(), json!(d.approver));
                    m.insert(
                        "Decision".into(),
                        json!(if d.approve { "Approve" } else { "Reject" }),
                    );
                    m.insert(
                        "ApprovalDecisionTime".into(),
                        json!(d.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                    );
                    put(&mut m, "Comment", d.comment.clone().map(Value::from));
                    Value::String(Value::Object(m).to_string())
                })
                .collect();
            out.insert(
                "Outputs".into(),
                json!({"ApprovalStatus": [status], "ApproverDecisions": decisions}),
            );
        }
        put(
            &mut out,
            "FailureMessage",
            step.failure.clone().map(Value::from),
        );
        out.insert("StepExecutionId".into(), json!(step.id));
        out.insert("IsEnd".into(), json!(false));
        out.insert("IsCritical".into(), json!(true));
        Value::Object(out)
    }

    /// The members shared by `AutomationExecution` and its metadata.
    fn common(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("AutomationExecutionId".into(), json!(self.id));
        out.insert("DocumentName".into(), json!(self.document));
        out.insert("DocumentVersion".into(), json!("1"));
        out.insert("ExecutionStartTime".into(), epoch(self.origin.1));
        put(
            &mut out,
            "ExecutionEndTime",
            self.ended.map(|t| epoch(self.wall(t))),
        );
        out.insert("AutomationExecutionStatus".into(), json!(self.status));
        put(
            &mut out,
            "FailureMessage",
            self.failure.clone().map(Value::from),
        );
        out.insert("Mode".into(), json!("Auto"));
        out.insert("ExecutedBy".into(), json!(self.executed_by));
        if let Some(step) = self.steps.get(self.current).filter(|_| !self.is_terminal()) {
            out.insert("CurrentStepName".into(), json!(step.def.name));
            out.insert("CurrentAction".into(), json!(step.def.action));
        }
        out
    }

    /// The `AutomationExecution` shape, with at most `max_steps` step
    /// executions: real SSM truncates long step lists too, and callers then
    /// page through DescribeAutomationStepExecutions.
    pub(crate) fn to_json(&self, max_steps: usize) -> Value {
        let mut out = self.common();
        out.insert(
            "StepExecutions".into(),
            self.steps
                .iter()
                .take(max_steps)
                .map(|s| self.step_json(s))
                .collect(),
        );
        out.insert(
            "StepExecutionsTruncated".into(),
            json!(self.steps.len() > max_steps),
        );
        out.insert("Parameters".into(), json!(self.params));
        out.insert("Outputs".into(), json!({}));
        let count = |s: &str| self.steps.iter().filter(|x| x.status == s).count();
        out.insert(
            "ProgressCounters".into(),
            json!({
                "TotalSteps": self.steps.len(),
                "SuccessSteps": count("Success"),
                "FailedSteps": count("Failed"),
                "CancelledSteps": count("Cancelled"),
                "TimedOutSteps": count("TimedOut"),
            }),
        );
        Value::Object(out)
    }

    /// The `AutomationExecutionMetadata` shape.
    pub(crate) fn metadata_json(&self) -> Value {
        let mut out = self.common();
        out.insert("AutomationType".into(), json!("Local"));
        Value::Object(out)
    }
}
