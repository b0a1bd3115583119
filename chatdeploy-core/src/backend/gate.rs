//! The approval gate a document declares: its approval steps, who may
//! answer them, and whether the bot is among them.

use serde::{Deserialize, Serialize};

/// One approval step a document declares (SSM: an `aws:approve` step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStep {
    /// The step's name.
    pub name: String,
    /// Who may answer it, as the document names them, parameters resolved
    /// for this start (SSM: user names, user, role or assumed-role ARNs).
    pub approvers: Vec<String>,
    /// How many approvals the step itself requires.
    pub min_approvals: u32,
    /// Whether the backend's own identity (the bot) is among `approvers`,
    /// as the backend compares identities.
    pub includes_bot: bool,
}

/// What a document's approval steps look like for one start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalGate {
    /// The bot's identity as the backend knows it (SSM: the caller's ARN).
    pub identity: String,
    /// The document version this describes.
    pub document_version: Option<String>,
    /// The document's steps in order, by name.
    pub step_order: Vec<String>,
    /// Its approval steps, in document order.
    pub steps: Vec<ApprovalStep>,
}

impl ApprovalGate {
    /// The names of the steps that come before the first approval step:
    /// an execution that ran no further than these never reached the gate.
    pub fn steps_before_approval(&self) -> Vec<String> {
        self.step_order
            .iter()
            .take_while(|name| !self.steps.iter().any(|s| &s.name == *name))
            .cloned()
            .collect()
    }

    /// Why a start must be refused, if it must: the document has no
    /// approval step, or the bot may answer none of them. The sentence says
    /// what to fix.
    pub fn refusal(&self, document: &str) -> Option<String> {
        if self.steps.is_empty() {
            return Some(format!(
                "document {document} has no approval step, so its releases would run without \
                 the approval the service requires; add an aws:approve step whose Approvers \
                 include the bot ({}), or set `approval = \"before_start\"` for the service",
                self.identity
            ));
        }
        if !self.steps.iter().any(|s| s.includes_bot) {
            let steps: Vec<String> = self
                .steps
                .iter()
                .map(|s| format!("{} (approvers: {})", s.name, list(&s.approvers)))
                .collect();
            return Some(format!(
                "the bot ({}) is not an approver of document {document}'s approval step{} {}, \
                 so approvals given in chat could not be delivered; add the bot's role to the \
                 step's Approvers",
                self.identity,
                if steps.len() == 1 { "" } else { "s" },
                steps.join(", ")
            ));
        }
        None
    }

    /// Problems worth reporting that do not stop a start: approval steps
    /// the bot cannot answer beside one it can, and steps that need more
    /// approvals than the bot's one signal gives.
    pub fn warnings(&self, document: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.steps.iter().any(|s| s.includes_bot) {
            for step in self.steps.iter().filter(|s| !s.includes_bot) {
                warnings.push(format!(
                    "document {document}: the bot ({}) is not an approver of step {}; that \
                     step can only be decided in the AWS console",
                    self.identity, step.name
                ));
            }
        }
        for step in self.steps.iter().filter(|s| s.includes_bot) {
            if step.min_approvals > 1 {
                warnings.push(format!(
                    "document {document}: step {} needs {} approvals in AWS, but the bot's \
                     signal counts once; set MinRequiredApprovals to 1 and use the service's \
                     `min_approvals` for several approvers in chat",
                    step.name, step.min_approvals
                ));
            }
        }
        warnings
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(steps: Vec<ApprovalStep>) -> ApprovalGate {
        ApprovalGate {
            identity: "arn:aws:sts::1:assumed-role/chatdeploy/s".into(),
            document_version: Some("3".into()),
            step_order: vec!["Record".into(), "Approve".into(), "Rollout".into()],
            steps,
        }
    }

    fn step(includes_bot: bool, min_approvals: u32) -> ApprovalStep {
        ApprovalStep {
            name: "Approve".into(),
            approvers: vec!["arn:aws:iam::1:user/carol".into()],
            min_approvals,
            includes_bot,
        }
    }

    #[test]
    fn a_document_without_an_answerable_approval_step_is_refused() {
        let none = gate(Vec::new()).refusal("Deploy-App").unwrap();
        assert!(none.contains("has no approval step"), "{none}");
        let other = gate(vec![step(false, 1)]).refusal("Deploy-App").unwrap();
        assert!(
            other.contains("is not an approver") && other.contains("arn:aws:iam::1:user/carol"),
            "{other}"
        );
        assert_eq!(gate(vec![step(true, 1)]).refusal("Deploy-App"), None);
    }

    #[test]
    fn warns_of_steps_chat_cannot_complete() {
        assert!(gate(vec![step(true, 1)]).warnings("D").is_empty());
        let warnings = gate(vec![step(true, 2)]).warnings("D");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("needs 2 approvals"), "{warnings:?}");
    }

    #[test]
    fn steps_before_the_gate() {
        assert_eq!(
            gate(vec![step(true, 1)]).steps_before_approval(),
            vec!["Record".to_owned()]
        );
    }
}
