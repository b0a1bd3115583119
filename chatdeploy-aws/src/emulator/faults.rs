//! Fault injection: throttling, server errors, latency, denied operations.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::iam;
use super::wire::{ACCOUNT, WireError};

/// Faults waiting to happen, consumed call by call.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) throttle_next: usize,
    pub(crate) fail_next: usize,
    pub(crate) latency: Duration,
    pub(crate) denied: BTreeSet<String>,
}

impl Faults {
    /// The fault for this call, if any; each throttle or 500 is used once.
    pub(crate) fn take(
        &mut self,
        operation: &str,
        caller: &str,
        region: &str,
        body: &Value,
    ) -> Option<WireError> {
        if self.denied.contains(operation) && iam::ACTIONS.contains(&operation) {
            // IAM's code, and its way of naming the principal.
            let source = body
                .get("PolicySourceArn")
                .and_then(Value::as_str)
                .unwrap_or(caller);
            return Some(WireError::client(
                "AccessDenied",
                format!(
                    "User: {caller} is not authorized to perform: iam:{operation} on resource: \
                     {} because no identity-based policy allows the iam:{operation} action",
                    iam::resource_phrase(source)
                ),
            ));
        }
        if self.denied.contains(operation) {
            // As IAM words it, so the client's message names the action.
            return Some(WireError::client(
                "AccessDeniedException",
                format!(
                    "User: {caller} is not authorized to perform: ssm:{operation} on resource: \
                     arn:aws:ssm:{region}:{ACCOUNT}:* because no identity-based policy allows \
                     the ssm:{operation} action"
                ),
            ));
        }
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Some(WireError::client("ThrottlingException", "Rate exceeded"));
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(WireError::internal("An internal error occurred (injected)"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order() {
        let mut faults = Faults {
            throttle_next: 1,
            fail_next: 1,
            ..Faults::default()
        };
        let arn = "arn:aws:iam::1:role/x";
        assert_eq!(
            faults
                .take("Op", arn, "us-east-1", &Value::Null)
                .map(|e| e.kind),
            Some("ThrottlingException".into())
        );
        assert_eq!(
            faults
                .take("Op", arn, "us-east-1", &Value::Null)
                .map(|e| e.status),
            Some(500)
        );
        assert_eq!(faults.take("Op", arn, "us-east-1", &Value::Null), None);
        faults.denied.insert("Op".into());
        let denied = faults.take("Op", arn, "us-east-1", &Value::Null).unwrap();
        assert!(denied.message.contains("ssm:Op"));
        faults.denied.insert("SimulatePrincipalPolicy".into());
        let body = serde_json::json!({"PolicySourceArn": "arn:aws:iam::1:role/ops/bot"});
        let denied = faults
            .take("SimulatePrincipalPolicy", arn, "us-east-1", &body)
            .unwrap();
        assert_eq!(denied.kind, "AccessDenied");
        assert!(
            denied
                .message
                .contains("iam:SimulatePrincipalPolicy on resource: role bot"),
            "{}",
            denied.message
        );
    }
}
