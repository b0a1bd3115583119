//! The awsQuery protocol STS and IAM speak: a form-encoded `POST /` naming
//! its `Action` (lists as `Name.member.N`), answered in XML. Actions are
//! routed to [`sts`](super::sts) or [`iam`](super::iam) by name.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::wire::WireError;
use super::{iam, sts};

/// STS's XML namespace.
pub(crate) const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// IAM's XML namespace.
pub(crate) const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// The namespace of the service that answers `action` (STS's for actions
/// neither knows).
pub(crate) fn namespace(action: &str) -> &'static str {
    if iam::ACTIONS.contains(&action) {
        IAM_NAMESPACE
    } else {
        STS_NAMESPACE
    }
}

/// Runs one awsQuery action for `caller`; the answer is the XML body.
pub(crate) fn dispatch(
    action: &str,
    form: &Value,
    caller: &str,
    policy: &iam::Policy,
) -> Result<String, WireError> {
    let empty = Map::new();
    let form = form.as_object().unwrap_or(&empty);
    match action {
        "SimulatePrincipalPolicy" => iam::simulate_principal_policy(form, policy),
        _ => sts::dispatch(action, caller),
    }
}

/// The values of the list member `name` (`name.member.1`, `name.member.2`,
/// …), in their order.
pub(crate) fn members(form: &Map<String, Value>, name: &str) -> Vec<String> {
    let prefix = format!("{name}.member.");
    let mut found: Vec<(u32, String)> = form
        .iter()
        .filter_map(|(key, value)| {
            let index = key.strip_prefix(&prefix)?.parse().ok()?;
            Some((index, value.as_str()?.to_owned()))
        })
        .collect();
    found.sort_by_key(|(index, _)| *index);
    found.into_iter().map(|(_, value)| value).collect()
}

/// The indices `N` of a list of structures (`name.member.N.…`), sorted.
pub(crate) fn structure_indices(form: &Map<String, Value>, name: &str) -> Vec<u32> {
    let prefix = format!("{name}.member.");
    let mut found: Vec<u32> = form
        .keys()
        .filter_map(|key| key.strip_prefix(&prefix)?.split('.').next()?.parse().ok())
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form-encoded body as a JSON object (for recording and dispatch).
pub(crate) fn parse_form(body: &[u8]) -> Map<String, Value> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), Value::String(decode(v)))
        })
        .collect()
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_response(status: StatusCode, body: &str) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let body = body.replace("{request_id}", &id);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(&id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

/// A successful answer.
pub(crate) fn ok_response(body: &str) -> Response {
    xml_response(StatusCode::OK, body)
}

/// An error in awsQuery's XML shape, in the namespace of the service that
/// answers `action`.
pub(crate) fn error_response(error: &WireError, action: &str) -> Response {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{{request_id}}</RequestId></ErrorResponse>",
        namespace(action),
        escape(&error.kind),
        escape(&error.message),
    );
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let form = parse_form(b"Action=GetCallerIdentity&Version=2011-06-15&X=a%2Fb+c%&Y");
        assert_eq!(form["Action"], "GetCallerIdentity");
        assert_eq!(form["Version"], "2011-06-15");
        assert_eq!(form["X"], "a/b c%");
        assert_eq!(form["Y"], "");
    }

    #[test]
    fn lists_keep_their_order() {
        let form = parse_form(
            b"A.member.10=j&A.member.2=b&A.member.1=a&B.member.2.K=x&B.member.1.K=y&B.member.1.V.member.1=z",
        );
        assert_eq!(members(&form, "A"), ["a", "b", "j"]);
        assert_eq!(structure_indices(&form, "B"), [1, 2]);
        assert_eq!(members(&form, "B.member.1.V"), ["z"]);
    }
}
