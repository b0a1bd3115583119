//! Comparing IAM principals as `aws:approve` compares an approver entry
//! with the caller (placeholder until the emulator work lands).

/// Whether the `aws:approve` approver entry `approver` names `caller_arn`.
pub(crate) fn approver_matches(approver: &str, caller_arn: &str) -> bool {
    let approver = approver.trim();
    if approver == caller_arn {
        return true;
    }
    let Some((caller_prefix, caller_kind, caller_name)) = split(caller_arn) else {
        return false;
    };
    if !approver.starts_with("arn:") {
        return approver == caller_name;
    }
    let Some((prefix, kind, name)) = split(approver) else {
        return false;
    };
    let same_account = prefix.rsplit(':').next() == caller_prefix.rsplit(':').next();
    same_account
        && match (kind, caller_kind) {
            ("role", "assumed-role") | ("user", "user") | ("role", "role") => name == caller_name,
            _ => false,
        }
}

/// `(partition…:account, kind, name)` of a user, role or assumed-role ARN;
/// paths and session names dropped.
fn split(arn: &str) -> Option<(&str, &str, &str)> {
    let (prefix, resource) = arn.rsplit_once(':')?;
    let mut parts = resource.split('/');
    let kind = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    let name = match kind {
        "assumed-role" => rest.first()?,
        "user" | "role" => rest.last()?,
        _ => return None,
    };
    Some((prefix, kind, name))
}
