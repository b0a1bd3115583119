//! One execution, advanced lazily on tokio's clock: whenever it is looked
//! at, every step whose time has come runs to its end.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;

use super::document::{Document, StepDef, interpolate, iso_duration};
use super::wire::WireError;

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
pub(crate) struct Decision {
    pub(crate) approver: String,
    pub(crate) approve: bool,
    pub(crate) at: DateTime<Utc>,
    pub(crate) comment: Option<String>,
}

#[derive(Debug)]
pub(crate) struct StepRun {
    pub(crate) def: StepDef,
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) started: Option<Instant>,
    pub(crate) ended: Option<Instant>,
    pub(crate) failure: Option<String>,
    pub(crate) decisions: Vec<Decision>,
}

/// One automation execution.
#[derive(Debug)]
pub(crate) struct Execution {
    pub(crate) id: String,
    pub(crate) document: String,
    /// The parameters as given (for ClientToken comparison).
    pub(crate) given: BTreeMap<String, Vec<String>>,
    pub(crate) params: BTreeMap<String, Vec<String>>,
    pub(crate) executed_by: String,
    pub(crate) origin: (Instant, DateTime<Utc>),
    pub(crate) steps: Vec<StepRun>,
    pub(crate) current: usize,
    pub(crate) status: &'static str,
    pub(crate) failure: Option<String>,
    pub(crate) ended: Option<Instant>,
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

    pub(crate) fn wall(&self, at: Instant) -> DateTime<Utc> {
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
}
