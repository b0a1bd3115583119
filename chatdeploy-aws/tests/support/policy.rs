//! A small IAM policy evaluator for the shipped policy
//! (`deploy/iam-policy.json`): actions and resources with `*` and `?`,
//! and the condition operators that policy uses (`Null`, `StringEquals`,
//! `ForAllValues:StringEquals`). Anything else panics: the evaluator must
//! grow with the policy, never guess.

use chatdeploy_aws::{ContextEntry, PolicyDecision};
use serde_json::Value;

/// `*` matches any run of characters, `?` one.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("not a string or list: {other}"),
    }
}

fn values<'a>(context: &'a [ContextEntry], key: &str) -> Option<&'a [String]> {
    context
        .iter()
        .find(|e| e.key.eq_ignore_ascii_case(key))
        .map(|e| e.values.as_slice())
}

fn condition_holds(operator: &str, key: &str, wanted: &Value, context: &[ContextEntry]) -> bool {
    let wanted = strings(wanted);
    let given = values(context, key);
    match operator {
        "Null" => {
            let absent = given.is_none_or(<[String]>::is_empty);
            wanted.iter().any(|w| (w == "true") == absent)
        }
        "StringEquals" => given.is_some_and(|g| g.iter().any(|v| wanted.contains(v))),
        "ForAllValues:StringEquals" => given.is_none_or(|g| g.iter().all(|v| wanted.contains(v))),
        other => panic!("the evaluator does not know condition operator {other}"),
    }
}

fn applies(statement: &Value, action: &str, resource: &str, context: &[ContextEntry]) -> bool {
    let actions = strings(&statement["Action"]);
    let resources = strings(&statement["Resource"]);
    if !actions.iter().any(|a| glob(a, action, true))
        || !resources.iter().any(|r| glob(r, resource, false))
    {
        return false;
    }
    let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
        return true;
    };
    conditions.iter().all(|(operator, keys)| {
        keys.as_object()
            .unwrap()
            .iter()
            .all(|(key, wanted)| condition_holds(operator, key, wanted, context))
    })
}

/// What `policy` decides for `action` on `resource` with `context`.
pub fn evaluate(
    policy: &Value,
    action: &str,
    resource: &str,
    context: &[ContextEntry],
) -> PolicyDecision {
    let statements = policy["Statement"].as_array().unwrap();
    let matching: Vec<&Value> = statements
        .iter()
        .filter(|s| applies(s, action, resource, context))
        .collect();
    if matching.iter().any(|s| s["Effect"] == "Deny") {
        PolicyDecision::ExplicitDeny
    } else if matching.iter().any(|s| s["Effect"] == "Allow") {
        PolicyDecision::Allowed
    } else {
        PolicyDecision::ImplicitDeny
    }
}
