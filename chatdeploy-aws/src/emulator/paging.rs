//! `MaxResults` and `NextToken` as the Describe operations take them: at
//! most 50 a page, and an opaque token that is refused (`InvalidNextToken`)
//! when it was not issued for the same query.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::wire::WireError;

/// The model's `MaxResults` range is 1..=50; 50 when left out.
const MAX: u64 = 50;

/// The page size a request asks for.
pub(crate) fn max_results(body: &Value) -> Result<usize, WireError> {
    let Some(value) = body.get("MaxResults") else {
        return Ok(MAX as usize);
    };
    match value.as_u64() {
        Some(n @ 1..=MAX) => Ok(n as usize),
        _ => Err(WireError::client(
            "ValidationException",
            format!(
                "1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy \
                 constraint: Member must have value between 1 and {MAX}"
            ),
        )),
    }
}

/// A query's fingerprint: what a token is bound to.
fn fingerprint(scope: &str) -> u64 {
    let digest = Sha256::digest(scope.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes)
}

/// The token that resumes the query `scope` at `position`.
pub(crate) fn token(scope: &str, position: usize) -> String {
    // Mixing the position with the fingerprint keeps callers from reading
    // (or building) positions: the token is opaque.
    let fp = fingerprint(scope);
    format!("AAEA{fp:016x}{:016x}", (position as u64) ^ fp)
}

/// Where `NextToken` resumes the query `scope`; no token starts at 0.
pub(crate) fn position(body: &Value, scope: &str, limit: usize) -> Result<usize, WireError> {
    let Some(token) = body.get("NextToken") else {
        return Ok(0);
    };
    let invalid = || WireError::client("InvalidNextToken", "The specified token is not valid.");
    let text = token.as_str().ok_or_else(invalid)?;
    let rest = text.strip_prefix("AAEA").ok_or_else(invalid)?;
    if rest.len() != 32 || !rest.is_ascii() {
        return Err(invalid());
    }
    let fp = u64::from_str_radix(&rest[..16], 16).map_err(|_| invalid())?;
    let mixed = u64::from_str_radix(&rest[16..], 16).map_err(|_| invalid())?;
    if fp != fingerprint(scope) {
        return Err(invalid());
    }
    usize::try_from(mixed ^ fp)
        .ok()
        .filter(|p| *p <= limit)
        .ok_or_else(invalid)
}

/// The query a token is bound to: the operation and its filters (not the
/// page size, which may change from page to page).
pub(crate) fn scope(operation: &str, body: &Value, keys: &[&str]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| body.get(*k).map(Value::to_string).unwrap_or_default())
        .collect();
    format!("{operation}|{}", parts.join("|"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn max_results_is_one_to_fifty() {
        assert_eq!(max_results(&json!({})).unwrap(), 50);
        assert_eq!(max_results(&json!({"MaxResults": 1})).unwrap(), 1);
        assert_eq!(max_results(&json!({"MaxResults": 50})).unwrap(), 50);
        for bad in [json!(0), json!(51), json!(-1), json!("5")] {
            let err = max_results(&json!({ "MaxResults": bad })).unwrap_err();
            assert_eq!(err.kind, "ValidationException");
        }
    }

    #[test]
    fn tokens_round_trip_only_for_their_query() {
        let a = scope("Op", &json!({"Filters": [1]}), &["Filters"]);
        let b = scope("Op", &json!({"Filters": [2]}), &["Filters"]);
        let t = token(&a, 42);
        assert_eq!(position(&json!({ "NextToken": t }), &a, 100).unwrap(), 42);
        assert_eq!(position(&json!({}), &a, 100).unwrap(), 0);
        let kind =
            |body: Value, scope: &str, limit| position(&body, scope, limit).unwrap_err().kind;
        assert_eq!(kind(json!({ "NextToken": t }), &b, 100), "InvalidNextToken");
        assert_eq!(kind(json!({ "NextToken": t }), &a, 41), "InvalidNextToken");
        assert_eq!(
            kind(json!({"NextToken": "nope"}), &a, 100),
            "InvalidNextToken"
        );
        assert_eq!(kind(json!({"NextToken": 7}), &a, 100), "InvalidNextToken");
        let mut forged = t.clone();
        forged.pop();
        forged.push('x');
        assert_eq!(
            kind(json!({ "NextToken": forged }), &a, 100),
            "InvalidNextToken"
        );
    }
}
