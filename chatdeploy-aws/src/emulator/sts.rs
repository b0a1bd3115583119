//! STS `GetCallerIdentity` on the emulator's endpoint, in STS's awsQuery
//! protocol (see [`query`](super::query)),
//! so an STS client pointed at the emulator learns the ARN its access key
//! is mapped to.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::query::{STS_NAMESPACE as NAMESPACE, escape};
use super::wire::{ACCOUNT, WireError};

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

#[cfg(test)]
mod tests {
    use super::*;

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
