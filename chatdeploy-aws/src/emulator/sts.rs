//! STS `GetCallerIdentity` on the emulator's endpoint, in STS's awsQuery
//! protocol (a form-encoded POST without `X-Amz-Target`, answered in XML),
//! so an STS client pointed at the emulator learns the ARN its access key
//! is mapped to.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::wire::{ACCOUNT, WireError};

/// STS's XML namespace.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

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

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A stable, IAM-looking unique ID: `AIDA…` for users, `AROA…` for roles
/// (with `:session` for an assumed role's session).
fn user_id(arn: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let account = arn.split(':').nth(4).unwrap_or_default();
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let parts: Vec<&str> = resource.split('/').collect();
    // One ID per principal: a role and its sessions share the role's.
    let (prefix, principal, session) = match parts.as_slice() {
        ["assumed-role", role, session] => {
            ("AROA", format!("{account}:role/{role}"), Some(*session))
        }
        ["role", .., name] => ("AROA", format!("{account}:role/{name}"), None),
        _ => ("AIDA", arn.to_owned(), None),
    };
    let digest = Sha256::digest(principal.as_bytes());
    let mut id = prefix.to_owned();
    id.extend(
        digest
            .iter()
            .take(17)
            .map(|b| char::from(ALPHABET[usize::from(*b) % 32])),
    );
    if let Some(session) = session {
        id.push(':');
        id.push_str(session);
    }
    id
}

/// Runs one STS action for `caller`; the answer is the XML body.
pub(crate) fn dispatch(action: &str, caller: &str) -> Result<String, WireError> {
    if action != "GetCallerIdentity" {
        return Err(WireError::client(
            "InvalidAction",
            format!("Could not find operation {action} for version 2011-06-15"),
        ));
    }
    let account = caller
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .unwrap_or(ACCOUNT);
    let mut xml = String::new();
    let _ = write!(
        xml,
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\
         <GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>\
         </GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{{request_id}}</RequestId></ResponseMetadata>\
         </GetCallerIdentityResponse>",
        escape(caller),
        escape(&user_id(caller)),
        escape(account),
    );
    Ok(xml)
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

/// An error in awsQuery's XML shape.
pub(crate) fn error_response(error: &WireError) -> Response {
    let kind = if error.status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{{request_id}}</RequestId></ErrorResponse>",
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
    fn identities_answer_in_xml() {
        let xml = dispatch(
            "GetCallerIdentity",
            "arn:aws:iam::111122223333:user/ops/bob",
        )
        .unwrap();
        assert!(xml.contains("<Arn>arn:aws:iam::111122223333:user/ops/bob</Arn>"));
        assert!(xml.contains("<Account>111122223333</Account>"));
        assert!(xml.contains("<UserId>AIDA"));
        let session = user_id("arn:aws:sts::111122223333:assumed-role/chatdeploy/s-1");
        assert!(
            session.starts_with("AROA") && session.ends_with(":s-1"),
            "{session}"
        );
        assert_eq!(
            session.split(':').next(),
            Some(user_id("arn:aws:iam::111122223333:role/chatdeploy").as_str())
        );
        assert_eq!(
            dispatch("AssumeRole", "x").unwrap_err().kind,
            "InvalidAction"
        );
    }
}
