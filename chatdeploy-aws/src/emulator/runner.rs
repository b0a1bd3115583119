//! One execution, advanced lazily on tokio's clock: whenever it is looked
//! at, every step whose time has come runs to its end.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::document::{Document, StepDef, interpolate, iso_duration};
use super::wire::{WireError, epoch, put};

/// What the emulator knows when it advances executions.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    /// How long actions other than `aws:sleep` and `aws:approve` take.
    pub(crate) step_delay: Duration,
    /// Injected failures: (document, step) → message.
    pub(crate) failures: &'a BTreeMap<(String, String), String>,
}

#[derive(Debug, Clone)]
struct Decision {
    approver: String,
    approve: bool,
    at: DateTime<Utc>,
    comment: Option<String>,
}

#[derive(Debug)]
struct StepRun {
    def: StepDef,
    id: String,
    status: &'static str,
    started: Option<Instant>,
    ended: Option<Instant>,
    failure: Option<String>,
    decisions: Vec<Decision>,
}

/// One automation execution.
#[derive(Debug)]
pub(crate) struct Execution {
    pub(crate) id: String,
    pub(crate) document: String,
    /// The parameters as given (for ClientToken comparison).
    pub(crate) given: BTreeMap<String, Vec<String>>,
    params: BTreeMap<String, Vec<String>>,
    pub(crate) executed_by: String,
    origin: (Instant, DateTime<Utc>),
    steps: Vec<StepRun>,
    current: usize,
    pub(crate) status: &'static str,
    failure: Option<String>,
    ended: Option<Instant>,
}

const TERMINAL: [&str; 4] = ["Success", "Failed", "Cancelled", "TimedOut"];

impl Execution {
    pub(crate) fn new(
        doc: &Document,
        given: BTreeMap<String, Vec<String>>,
        params: BTreeMap<String, Vec<String>>,
        executed_by: String,
        now: Instant,
    ) -> Self {
        let steps = doc
            .steps
            .iter()
            .map(|def| StepRun {
                def: def.clone(),
                id: uuid::Uuid::new_v4().to_string(),
                status: "Pending",
                started: None,
                ended: None,
                failure: None,
                decisions: Vec::new(),
            })
            .collect();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            document: doc.name.clone(),
            given,
            params,
            executed_by,
            origin: (now, Utc::now()),
            steps,
            current: 0,
            status: "InProgress",
            failure: None,
            ended: None,
        }
    }

    pub(crate) fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.status)
    }

    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.origin.0);
        self.origin.1 + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn input_text(&self, step: &StepDef, key: &str) -> Option<String> {
        step.inputs.get(key).map(|v| match v {
            Value::String(s) => interpolate(s, &self.params),
            other => other.to_string(),
        })
    }

    /// The approvers of an `aws:approve` step, `{{ Param }}` expanded.
    fn approvers(&self, step: &StepDef) -> Vec<String> {
        let entries: Vec<String> = match step.inputs.get("Approvers") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        entries
            .iter()
            .flat_map(|e| {
                let name = e
                    .trim()
                    .trim_start_matches("{{")
                    .trim_end_matches("}}")
                    .trim();
                match self.params.get(name) {
                    Some(values) if e.trim().starts_with("{{") => values.clone(),
                    _ => vec![e.clone()],
                }
            })
            .collect()
    }

    fn min_approvals(&self, step: &StepDef) -> usize {
        self.input_text(step, "MinRequiredApprovals")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1)
    }

    fn finish(&mut self, status: &'static str, at: Instant, failure: Option<String>) {
        self.status = status;
        self.failure = failure;
        self.ended = Some(at);
    }

    /// Runs every step whose time has come.
    pub(crate) fn advance(&mut self, ctx: &Ctx<'_>) {
        let mut clock = self
            .steps
            .get(self.current)
            .and_then(|s| s.started)
            .unwrap_or(self.origin.0);
        while !self.is_terminal() {
            let Some(step) = self.steps.get(self.current) else {
                self.finish("Success", clock, None);
                return;
            };
            let started = step.started.unwrap_or(clock);
            let def = step.def.clone();
            self.steps[self.current].started = Some(started);
            if def.action == "aws:approve" {
                self.steps[self.current].status = "Waiting";
                self.status = "Waiting";
                return;
            }
            self.steps[self.current].status = "InProgress";
            self.status = "InProgress";
            let duration = if def.action == "aws:sleep" {
                match self
                    .input_text(&def, "Duration")
                    .as_deref()
                    .map(iso_duration)
                {
                    Some(Some(d)) => d,
                    _ => Duration::ZERO,
                }
            } else {
                ctx.step_delay
            };
            let ends = started + duration;
            if ctx.now < ends {
                return;
            }
            let step = &mut self.steps[self.current];
            step.ended = Some(ends);
            if let Some(message) = ctx.failures.get(&(self.document.clone(), def.name.clone())) {
                step.status = "Failed";
                step.failure = Some(message.clone());
                let failure = format!(
                    "Step fails when it is Executing. {message}. Please refer to Automation Service \
                     Troubleshooting Guide for more diagnosis details."
                );
                self.finish("Failed", ends, Some(failure));
                return;
            }
            step.status = "Success";
            self.current += 1;
            clock = ends;
        }
    }

    /// An Approve or Reject from `caller`.
    pub(crate) fn signal(
        &mut self,
        ctx: &Ctx<'_>,
        caller: &str,
        approve: bool,
        comment: Option<String>,
    ) -> Result<(), WireError> {
        self.advance(ctx);
        let invalid = |m: String| WireError::client("InvalidAutomationSignalException", m);
        if self.status != "Waiting" {
            return Err(invalid(format!(
                "Automation execution {} is {} and does not wait for a signal",
                self.id, self.status
            )));
        }
        let def = self.steps[self.current].def.clone();
        let approvers = self.approvers(&def);
        let listed = approvers
            .iter()
            .any(|a| a == caller || caller.rsplit('/').next() == Some(a.as_str()));
        if !listed {
            return Err(invalid(format!(
                "{caller} is not an approver of step {}",
                def.name
            )));
        }
        let at = ctx.now;
        let wall = self.wall(at);
        let step = &mut self.steps[self.current];
        step.decisions.retain(|d| d.approver != caller);
        step.decisions.push(Decision {
            approver: caller.to_owned(),
            approve,
            at: wall,
            comment,
        });
        if !approve {
            step.status = "Failed";
            step.ended = Some(at);
            step.failure = Some(format!("Step was rejected by {caller}"));
            let failure = format!("Step {} was rejected by {caller}.", def.name);
            self.finish("Failed", at, Some(failure));
            return Ok(());
        }
        if step.decisions.iter().filter(|d| d.approve).count() >= self.min_approvals(&def) {
            let step = &mut self.steps[self.current];
            step.status = "Success";
            step.ended = Some(at);
            self.current += 1;
            if let Some(next) = self.steps.get_mut(self.current) {
                next.started = Some(at);
            }
            self.status = "InProgress";
            self.advance(ctx);
        }
        Ok(())
    }

    /// StopAutomationExecution.
    pub(crate) fn stop(&mut self, ctx: &Ctx<'_>) -> Result<(), WireError> {
        self.advance(ctx);
        if self.is_terminal() {
            return Err(WireError::client(
                "InvalidAutomationStatusUpdateException",
                format!(
                    "Automation execution {} has already ended ({})",
                    self.id, self.status
                ),
            ));
        }
        if let Some(step) = self.steps.get_mut(self.current) {
            step.status = "Cancelled";
            step.ended = Some(ctx.now);
        }
        self.finish("Cancelled", ctx.now, None);
        Ok(())
    }

    fn step_json(&self, step: &StepRun) -> Value {
        let mut out = Map::new();
        out.insert("StepName".into(), json!(step.def.name));
        out.insert("Action".into(), json!(step.def.action));
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

    /// The `AutomationExecution` shape.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = self.common();
        out.insert(
            "StepExecutions".into(),
            self.steps.iter().map(|s| self.step_json(s)).collect(),
        );
        out.insert("StepExecutionsTruncated".into(), json!(false));
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
