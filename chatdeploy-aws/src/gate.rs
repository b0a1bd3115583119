//! An Automation document's approval gate, read from its content: the
//! `aws:approve` steps, their `Approvers` with `{{ Parameter }}` references
//! resolved for one start, and whether the bot's identity is among them.

use std::collections::BTreeMap;

use chatdeploy_core::backend::{ApprovalGate, ApprovalStep};
use serde_json::Value;

use crate::arn::approver_matches;
use crate::mapping::APPROVE_ACTION;

/// A document's content, parsed once per version.
#[derive(Debug, Clone)]
pub(crate) struct ParsedDocument {
    /// Every `mainSteps` name, in order.
    step_order: Vec<String>,
    /// The `aws:approve` steps: name, raw `Approvers` entries,
    /// `MinRequiredApprovals` as written.
    approve_steps: Vec<(String, Vec<String>, Option<Value>)>,
    /// Declared parameter defaults, as lists of strings.
    defaults: BTreeMap<String, Vec<String>>,
}

impl ParsedDocument {
    /// Parses JSON or YAML content.
    pub(crate) fn parse(content: &str) -> Result<Self, String> {
        let root: Value = match serde_json::from_str(content) {
            Ok(value) => value,
            Err(_) => serde_yaml::from_str(content)
                .map_err(|e| format!("the document is neither JSON nor YAML: {e}"))?,
        };
        let steps = root
            .get("mainSteps")
            .and_then(Value::as_array)
            .ok_or("the document has no mainSteps")?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let step_order = steps.iter().filter_map(|s| text(s, "name")).collect();
        let approve_steps = steps
            .iter()
            .filter(|s| s.get("action").and_then(Value::as_str) == Some(APPROVE_ACTION))
            .map(|s| {
                let inputs = s.get("inputs");
                let approvers = match inputs.and_then(|i| i.get("Approvers")) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                    Some(Value::String(one)) => vec![one.clone()],
                    _ => Vec::new(),
                };
                let min = inputs.and_then(|i| i.get("MinRequiredApprovals")).cloned();
                (text(s, "name").unwrap_or_default(), approvers, min)
            })
            .collect();
        let defaults = root
            .get("parameters")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .filter_map(|(name, spec)| Some((name.clone(), values(spec.get("default")?))))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            step_order,
            approve_steps,
            defaults,
        })
    }

    /// The gate for a start with `parameters`, as seen by `identity`.
    pub(crate) fn gate(
        &self,
        parameters: &BTreeMap<String, String>,
        identity: &str,
        version: Option<String>,
    ) -> ApprovalGate {
        let value_of = |name: &str| -> Vec<String> {
            match parameters.get(name) {
                Some(given) => vec![given.clone()],
                None => self.defaults.get(name).cloned().unwrap_or_default(),
            }
        };
        let steps = self
            .approve_steps
            .iter()
            .map(|(name, approvers, min)| {
                let approvers: Vec<String> = approvers
                    .iter()
                    .flat_map(|entry| match reference(entry) {
                        // A StringList parameter given as one value may hold several.
                        Some(parameter) => value_of(parameter)
                            .into_iter()
                            .flat_map(|v| split_list(&v))
                            .collect(),
                        None => vec![entry.trim().to_owned()],
                    })
                    .filter(|a| !a.is_empty())
                    .collect();
                let min_approvals = match min {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => match reference(s) {
                        Some(parameter) => value_of(parameter).first().and_then(|v| v.parse().ok()),
                        None => s.trim().parse().ok(),
                    },
                    _ => None,
                }
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1);
                ApprovalStep {
                    includes_bot: approvers.iter().any(|a| approver_matches(a, identity)),
                    name: name.clone(),
                    approvers,
                    min_approvals,
                }
            })
            .collect();
        ApprovalGate {
            identity: identity.to_owned(),
            document_version: version,
            step_order: self.step_order.clone(),
            steps,
        }
    }
}

/// `Name` of a whole-value `{{ Name }}` reference.
fn reference(entry: &str) -> Option<&str> {
    let inner = entry.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && !inner.contains(['{', '}'])).then_some(inner)
}

/// A parameter value as a list of strings: a JSON list or one string.
fn values(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

/// A value given for a StringList as `a,b` or `["a","b"]`.
fn split_list(value: &str) -> Vec<String> {
    if let Ok(items) = serde_json::from_str::<Vec<String>>(value) {
        return items;
    }
    value.split(',').map(|v| v.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "schemaVersion: '0.3'\nparameters:\n  Approver:\n    type: String\n    default: arn:aws:iam::123456789012:role/chatdeploy\n  Extra:\n    type: StringList\n    default: [bob]\nmainSteps:\n  - name: Record\n    action: aws:executeAwsApi\n  - name: Approve\n    action: aws:approve\n    inputs:\n      Approvers: ['{{ Approver }}', '{{Extra}}']\n      MinRequiredApprovals: 1\n  - name: Rollout\n    action: aws:runCommand\n";

    const BOT: &str = "arn:aws:sts::123456789012:assumed-role/chatdeploy/i-0abc";

    #[test]
    fn resolves_approvers_from_parameters_and_defaults() {
        let doc = ParsedDocument::parse(DOC).unwrap();
        let gate = doc.gate(&BTreeMap::new(), BOT, Some("2".into()));
        assert_eq!(gate.step_order, ["Record", "Approve", "Rollout"]);
        assert_eq!(gate.steps.len(), 1);
        assert_eq!(
            gate.steps[0].approvers,
            ["arn:aws:iam::123456789012:role/chatdeploy", "bob"]
        );
        assert!(gate.steps[0].includes_bot, "the role's session is the role");
        assert_eq!(gate.refusal("Deploy-App"), None);

        let given = BTreeMap::from([(
            "Approver".to_owned(),
            "arn:aws:iam::123456789012:user/carol".to_owned(),
        )]);
        let gate = doc.gate(&given, BOT, None);
        assert!(!gate.steps[0].includes_bot);
        assert!(gate.refusal("Deploy-App").is_some());
    }

    #[test]
    fn a_document_without_approve_steps_has_an_empty_gate() {
        let doc = ParsedDocument::parse(
            r#"{"schemaVersion":"0.3","mainSteps":[{"name":"Run","action":"aws:runCommand"}]}"#,
        )
        .unwrap();
        let gate = doc.gate(&BTreeMap::new(), BOT, None);
        assert!(gate.steps.is_empty());
        assert!(gate.refusal("D").unwrap().contains("has no approval step"));
    }

    #[test]
    fn unreadable_content_is_an_error() {
        assert!(ParsedDocument::parse("[not a document").is_err());
        assert!(ParsedDocument::parse("schemaVersion: '0.3'").is_err());
    }
}
