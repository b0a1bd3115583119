//! One execution, advanced lazily on tokio's clock: whenever it is looked
//! at, every step whose time has come runs to its end.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;

use super::Settings;
use super::document::{Document, StepDef, interpolate, iso_duration};
use super::wire::WireError;

/// What the emulator knows when it advances executions.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) settings: Settings,
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

/// A tag on an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// One automation execution.
#[derive(Debug)]
pub(crate) struct Execution {
    pub(crate) id: String,
    pub(crate) document: String,
    /// The parameters as given (for ClientToken comparison).
    pub(crate) given: BTreeMap<String, Vec<String>>,
    pub(crate) params: BTreeMap<String, Vec<String>>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) executed_by: String,
    pub(crate) origin: (Instant, DateTime<Utc>),
    pub(crate) steps: Vec<StepRun>,
    pub(crate) current: usize,
    pub(crate) status: &'static str,
    pub(crate) failure: Option<String>,
    pub(crate) ended: Option<Instant>,
    /// When a `Cancelling` execution becomes `Cancelled`.
    pub(crate) cancel_at: Option<Instant>,
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
            tags: Vec::new(),
            executed_by,
            origin: (now, Utc::now()),
            steps,
            current: 0,
            status: "InProgress",
            failure: None,
            ended: None,
            cancel_at: None,
        }
    }

    pub(crate) fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.status)
    }

    pub(crate) fn wall(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.origin.0);
        self.origin.1 + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    pub(crate) fn input_text(&self, step: &StepDef, key: &str) -> Option<String> {
        step.inputs.get(key).map(|v| match v {
            Value::String(s) => interpolate(s, &self.params),
            other => other.to_string(),
        })
    }

    pub(crate) fn finish(&mut self, status: &'static str, at: Instant, failure: Option<String>) {
        self.status = status;
        self.failure = failure;
        self.ended = Some(at);
    }

    /// The current step and the execution time out at `at`; `phase` says
    /// what the step was doing, as SSM's messages put it.
    fn time_out(&mut self, at: Instant, phase: &str) {
        let message = format!("Step timed out while step is {phase}.");
        if let Some(step) = self.steps.get_mut(self.current) {
            step.status = "TimedOut";
            step.ended = Some(at);
            step.failure = Some(message.clone());
        }
        let failure = format!(
            "Step fails when it is {phase}. {message} Please refer to Automation Service \
             Troubleshooting Guide for more diagnosis details."
        );
        self.finish("TimedOut", at, Some(failure));
    }

    /// Runs every step whose time has come.
    pub(crate) fn advance(&mut self, ctx: &Ctx<'_>) {
        if self.status == "Cancelling" {
            // Nothing runs while cancelling; the current step ends with it.
            if let Some(at) = self.cancel_at.filter(|at| ctx.now >= *at) {
                if let Some(step) = self.steps.get_mut(self.current) {
                    step.status = "Cancelled";
                    step.ended = Some(at);
                }
                self.finish("Cancelled", at, None);
            }
            return;
        }
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
                let deadline = def.timeout().map(|t| started + t);
                if let Some(deadline) = deadline.filter(|d| ctx.now >= *d) {
                    self.time_out(deadline, "verifying approvals");
                    return;
                }
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
                ctx.settings.step_delay
            };
            if let Some(limit) = def.timeout().filter(|limit| duration > *limit) {
                if ctx.now >= started + limit {
                    self.time_out(started + limit, "Executing");
                }
                return;
            }
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

    /// StopAutomationExecution: the execution is `Cancelling` now and
    /// `Cancelled` once the cancel delay has passed, as SSM takes a moment to
    /// stop a running step.
    pub(crate) fn stop(&mut self, ctx: &Ctx<'_>) -> Result<(), WireError> {
        self.advance(ctx);
        let refuse = |m: String| WireError::client("InvalidAutomationStatusUpdateException", m);
        if self.is_terminal() {
            return Err(refuse(format!(
                "Automation execution {} has already ended ({})",
                self.id, self.status
            )));
        }
        if self.status == "Cancelling" {
            return Err(refuse(format!(
                "Automation execution {} is already Cancelling",
                self.id
            )));
        }
        self.status = "Cancelling";
        self.cancel_at = Some(ctx.now + ctx.settings.cancel_delay);
        // A zero delay is over at once.
        self.advance(ctx);
        Ok(())
    }
}
