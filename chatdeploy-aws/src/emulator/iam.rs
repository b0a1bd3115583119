//! IAM `SimulatePrincipalPolicy` on the emulator's endpoint, in IAM's
//! awsQuery protocol (see [`query`](super::query)), shaped as botocore's
//! `iam` model defines it: one `EvaluationResult` per action with the
//! decision on each resource in `ResourceSpecificResults` (as IAM answers
//! now), paged by `MaxItems` and `Marker`.
//!
//! The emulator has no policies: every action is `allowed` unless a test
//! set another decision for it ([`Policy::decide`]). A denial of
//! `SimulatePrincipalPolicy` itself is a fault (see
//! [`SsmEmulator::deny`](super::SsmEmulator::deny)).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::query::{IAM_NAMESPACE, escape, members, structure_indices};
use super::wire::WireError;
use crate::permissions::PolicyDecision;

/// The IAM actions the emulator answers.
pub(crate) const ACTIONS: [&str; 1] = ["SimulatePrincipalPolicy"];

/// `MaxItems` when the request has none, as IAM's.
const DEFAULT_MAX_ITEMS: usize = 100;

/// The context key types IAM accepts.
const CONTEXT_KEY_TYPES: [&str; 12] = [
    "string",
    "stringList",
    "numeric",
    "numericList",
    "boolean",
    "booleanList",
    "ip",
    "ipList",
    "binary",
    "binaryList",
    "date",
    "dateList",
];

/// The decisions tests set, by action (compared without case, as IAM
/// compares action names); every other action is allowed.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    decisions: BTreeMap<String, PolicyDecision>,
}

impl Policy {
    /// `action` (e.g. `ssm:SendAutomationSignal`) gets `decision` on every
    /// resource from now on.
    pub(crate) fn decide(&mut self, action: &str, decision: PolicyDecision) {
        let key = action.to_ascii_lowercase();
        if decision == PolicyDecision::Allowed {
            self.decisions.remove(&key);
        } else {
            self.decisions.insert(key, decision);
        }
    }

    fn decision(&self, action: &str) -> PolicyDecision {
        self.decisions
            .get(&action.to_ascii_lowercase())
            .copied()
            .unwrap_or(PolicyDecision::Allowed)
    }
}

fn validation(message: impl Into<String>) -> WireError {
    WireError::client("ValidationError", message)
}

fn invalid_input(message: impl Into<String>) -> WireError {
    WireError::client("InvalidInput", message)
}

/// Whether `arn` names an IAM user, group or role (never a session).
fn is_policy_source(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] => {
            !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && ["user/", "group/", "role/"].iter().any(|kind| {
                    resource
                        .strip_prefix(kind)
                        .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
                })
        }
        _ => false,
    }
}

/// How IAM's messages name a principal: `role chatdeploy`, `user bob`.
pub(crate) fn resource_phrase(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    match resource.split_once('/') {
        Some((kind, path)) => format!("{kind} {}", path.rsplit('/').next().unwrap_or(path)),
        None => arn.to_owned(),
    }
}

/// The request's context entries, checked as IAM checks them.
fn check_context(form: &Map<String, Value>) -> Result<(), WireError> {
    for index in structure_indices(form, "ContextEntries") {
        let field = |name: &str| {
            form.get(&format!("ContextEntries.member.{index}.{name}"))
                .and_then(Value::as_str)
        };
        if field("ContextKeyName").is_none_or(str::is_empty) {
            return Err(validation(format!(
                "1 validation error detected: Value null at 'contextEntries.{index}.member.\
                 contextKeyName' failed to satisfy constraint: Member must not be null"
            )));
        }
        if let Some(kind) = field("ContextKeyType")
            && !CONTEXT_KEY_TYPES.contains(&kind)
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{kind}' at 'contextEntries.{index}.member.\
                 contextKeyType' failed to satisfy constraint: Member must satisfy enum value \
                 set: [{}]",
                CONTEXT_KEY_TYPES.join(", ")
            )));
        }
    }
    Ok(())
}

/// Where a page starts: `MaxItems` and `Marker` checked.
fn page_bounds(form: &Map<String, Value>, total: usize) -> Result<(usize, usize), WireError> {
    let text = |key: &str| form.get(key).and_then(Value::as_str);
    let max = match text("MaxItems") {
        None => DEFAULT_MAX_ITEMS,
        Some(max) => max
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=1000).contains(m))
            .ok_or_else(|| {
                validation(format!(
                    "1 validation error detected: Value '{max}' at 'maxItems' failed to satisfy \
                     constraint: Member must have value between 1 and 1000"
                ))
            })?,
    };
    let start = match text("Marker") {
        None => 0,
        Some(marker) => marker
            .strip_prefix("sim-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < total)
            .ok_or_else(|| invalid_input(format!("Invalid Marker: {marker}")))?,
    };
    Ok((start, max))
}

/// `MatchedStatements` for `decision`: the emulator's one policy for an
/// allow, nothing for an implicit deny, its deny statement otherwise.
fn matched_statements(decision: PolicyDecision) -> &'static str {
    match decision {
        PolicyDecision::Allowed => {
            "<MatchedStatements><member><SourcePolicyId>chatdeploy-emulator</SourcePolicyId>\
             <SourcePolicyType>user-managed</SourcePolicyType></member></MatchedStatements>"
        }
        PolicyDecision::ExplicitDeny => {
            "<MatchedStatements><member><SourcePolicyId>chatdeploy-emulator-deny</SourcePolicyId>\
             <SourcePolicyType>user-managed</SourcePolicyType></member></MatchedStatements>"
        }
        PolicyDecision::ImplicitDeny => "<MatchedStatements/>",
    }
}

/// The aggregate of several decisions: the most restrictive.
fn aggregate(decisions: impl Iterator<Item = PolicyDecision>) -> PolicyDecision {
    decisions.fold(PolicyDecision::Allowed, |worst, next| match (worst, next) {
        (PolicyDecision::ExplicitDeny, _) | (_, PolicyDecision::ExplicitDeny) => {
            PolicyDecision::ExplicitDeny
        }
        (PolicyDecision::ImplicitDeny, _) | (_, PolicyDecision::ImplicitDeny) => {
            PolicyDecision::ImplicitDeny
        }
        _ => PolicyDecision::Allowed,
    })
}

/// One `EvaluationResult`.
fn evaluation_result(xml: &mut String, action: &str, resources: &[String], policy: &Policy) {
    // No per-resource policies here: the action decides on every resource.
    let decision = aggregate(resources.iter().map(|_| policy.decision(action)));
    let _ = write!(
        xml,
        "<member><EvalActionName>{}</EvalActionName>",
        escape(action)
    );
    if let [only] = resources {
        let _ = write!(xml, "<EvalResourceName>{}</EvalResourceName>", escape(only));
    }
    let _ = write!(
        xml,
        "<EvalDecision>{}</EvalDecision>{}<MissingContextValues/><EvalDecisionDetails/>\
         <ResourceSpecificResults>",
        decision.as_str(),
        matched_statements(decision)
    );
    for resource in resources {
        let decided = policy.decision(action);
        let _ = write!(
            xml,
            "<member><EvalResourceName>{}</EvalResourceName>\
             <EvalResourceDecision>{}</EvalResourceDecision>{}<MissingContextValues/></member>",
            escape(resource),
            decided.as_str(),
            matched_statements(decided)
        );
    }
    xml.push_str("</ResourceSpecificResults></member>");
}

/// Runs `SimulatePrincipalPolicy`; the answer is the XML body.
pub(crate) fn simulate_principal_policy(
    form: &Map<String, Value>,
    policy: &Policy,
) -> Result<String, WireError> {
    let source = form
        .get("PolicySourceArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            validation(
                "1 validation error detected: Value null at 'policySourceArn' failed to satisfy \
                 constraint: Member must not be null",
            )
        })?;
    if !is_policy_source(source) {
        return Err(invalid_input(format!(
            "Invalid ARN {source}: PolicySourceArn must be an IAM user, group or role"
        )));
    }
    let actions = members(form, "ActionNames");
    if actions.is_empty() {
        return Err(validation(
            "1 validation error detected: Value null at 'actionNames' failed to satisfy \
             constraint: Member must not be null",
        ));
    }
    if let Some(bad) = actions.iter().find(|a| !a.contains(':')) {
        return Err(invalid_input(format!("Invalid action name: {bad}")));
    }
    let mut resources = members(form, "ResourceArns");
    if resources.is_empty() {
        resources.push("*".to_owned());
    }
    check_context(form)?;
    let (start, max) = page_bounds(form, actions.len())?;
    let end = actions.len().min(start.saturating_add(max));
    let mut xml = String::new();
    let _ = write!(
        xml,
        "<SimulatePrincipalPolicyResponse xmlns=\"{IAM_NAMESPACE}\">\
         <SimulatePrincipalPolicyResult><IsTruncated>{}</IsTruncated><EvaluationResults>",
        end < actions.len()
    );
    for action in &actions[start..end] {
        evaluation_result(&mut xml, action, &resources, policy);
    }
    xml.push_str("</EvaluationResults>");
    if end < actions.len() {
        let _ = write!(xml, "<Marker>sim-{end}</Marker>");
    }
    xml.push_str(
        "</SimulatePrincipalPolicyResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </SimulatePrincipalPolicyResponse>",
    );
    Ok(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::query::parse_form;

    const ROLE: &str = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fchatdeploy";

    fn simulate(form: &str, policy: &Policy) -> Result<String, WireError> {
        simulate_principal_policy(&parse_form(form.as_bytes()), policy)
    }

    #[test]
    fn every_action_is_allowed_unless_denied() {
        let mut policy = Policy::default();
        let form = format!(
            "Action=SimulatePrincipalPolicy&PolicySourceArn={ROLE}\
             &ActionNames.member.1=ssm%3AGetDocument&ActionNames.member.2=ssm%3ASendAutomationSignal\
             &ResourceArns.member.1=arn%3Ax&ResourceArns.member.2=arn%3Ay"
        );
        let xml = simulate(&form, &policy).unwrap();
        assert_eq!(
            xml.matches("<EvalDecision>allowed</EvalDecision>").count(),
            2
        );
        assert_eq!(xml.matches("<EvalResourceDecision>allowed<").count(), 4);
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"));
        policy.decide("SSM:sendAutomationSignal", PolicyDecision::ImplicitDeny);
        let xml = simulate(&form, &policy).unwrap();
        assert_eq!(
            xml.matches("<EvalDecision>implicitDeny</EvalDecision>")
                .count(),
            1
        );
        policy.decide("ssm:SendAutomationSignal", PolicyDecision::Allowed);
        assert!(!simulate(&form, &policy).unwrap().contains("Deny"));
    }

    #[test]
    fn pages_follow_markers() {
        let policy = Policy::default();
        let base = format!(
            "Action=SimulatePrincipalPolicy&PolicySourceArn={ROLE}&ActionNames.member.1=a%3A1\
             &ActionNames.member.2=a%3A2&ActionNames.member.3=a%3A3&MaxItems=2"
        );
        let first = simulate(&base, &policy).unwrap();
        assert!(first.contains("<IsTruncated>true</IsTruncated>"), "{first}");
        assert!(first.contains("<Marker>sim-2</Marker>"));
        assert!(first.contains("<EvalResourceName>*</EvalResourceName>"));
        let rest = simulate(&format!("{base}&Marker=sim-2"), &policy).unwrap();
        assert!(rest.contains("a:3") && !rest.contains("a:1") && !rest.contains("<Marker>"));
        assert_eq!(
            simulate(&format!("{base}&Marker=forged"), &policy)
                .unwrap_err()
                .kind,
            "InvalidInput"
        );
        assert_eq!(
            simulate(&format!("{base}0000"), &policy).unwrap_err().kind,
            "ValidationError"
        );
    }

    #[test]
    fn requests_are_checked() {
        let policy = Policy::default();
        let session = "arn%3Aaws%3Asts%3A%3A123456789012%3Aassumed-role%2Fchatdeploy%2Fs";
        for (form, kind) in [
            ("ActionNames.member.1=a%3Ab".to_owned(), "ValidationError"),
            (
                format!("PolicySourceArn={session}&ActionNames.member.1=a%3Ab"),
                "InvalidInput",
            ),
            (format!("PolicySourceArn={ROLE}"), "ValidationError"),
            (
                format!("PolicySourceArn={ROLE}&ActionNames.member.1=nocolon"),
                "InvalidInput",
            ),
            (
                format!(
                    "PolicySourceArn={ROLE}&ActionNames.member.1=a%3Ab\
                     &ContextEntries.member.1.ContextKeyName=k\
                     &ContextEntries.member.1.ContextKeyType=strang"
                ),
                "ValidationError",
            ),
        ] {
            assert_eq!(simulate(&form, &policy).unwrap_err().kind, kind, "{form}");
        }
        assert_eq!(
            resource_phrase("arn:aws:iam::1:role/ops/chatdeploy"),
            "role chatdeploy"
        );
    }
}
