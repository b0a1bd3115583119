//! `aws:approve`: who may decide (by the caller's identity, as SSM checks
//! it), and what an Approve or Reject does to the step and the execution.

use serde_json::Value;

use super::runner::{Ctx, Decision, Execution};
use super::wire::WireError;
use crate::arn::approver_matches;

impl Execution {
    /// The approvers of an `aws:approve` step, `{{ Param }}` expanded.
    fn approvers(&self, index: usize) -> Vec<String> {
        let Some(step) = self.steps.get(index) else {
            return Vec::new();
        };
        let entries: Vec<String> = match step.def.inputs.get("Approvers") {
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

    fn min_approvals(&self, index: usize) -> usize {
        self.steps
            .get(index)
            .and_then(|s| self.input_text(&s.def, "MinRequiredApprovals"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1)
    }

    /// An Approve or Reject from `caller` (an IAM ARN).
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
        let index = self.current;
        let step_name = self.steps[index].def.name.clone();
        if !self
            .approvers(index)
            .iter()
            .any(|a| approver_matches(a, caller))
        {
            return Err(invalid(format!(
                "{caller} is not an approver of step {step_name} of automation execution {}",
                self.id
            )));
        }
        let at = ctx.now;
        let wall = self.wall(at);
        let min_approvals = self.min_approvals(index);
        let step = &mut self.steps[index];
        // A second decision by the same principal replaces the first.
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
            let failure = format!("Step {step_name} was rejected by {caller}.");
            self.finish("Failed", at, Some(failure));
            return Ok(());
        }
        if step.decisions.iter().filter(|d| d.approve).count() >= min_approvals {
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
}
