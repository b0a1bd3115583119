//! IAM principals as `aws:approve` names them, matched against a caller's
//! ARN the way SSM Automation does.
//!
//! An `Approvers` entry may be an IAM user name, an IAM user ARN, an IAM
//! role ARN or an assumed-role ARN. A caller is an IAM user, an IAM role, or
//! a session of an assumed role (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`,
//! which drops the role's path).

// Only the emulator checks approvers; the backend derives its policy source.

/// The partitions whose ARNs are understood.
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// A principal parsed from an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Principal<'a> {
    /// `arn:P:iam::A:user/PATH/NAME`: `resource` is `PATH/NAME`.
    User {
        partition: &'a str,
        account: &'a str,
        resource: &'a str,
    },
    /// `arn:P:iam::A:role/PATH/NAME`.
    Role {
        partition: &'a str,
        account: &'a str,
        name: &'a str,
    },
    /// `arn:P:sts::A:assumed-role/NAME/SESSION`.
    AssumedRole {
        partition: &'a str,
        account: &'a str,
        role: &'a str,
        session: &'a str,
    },
}

impl<'a> Principal<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if prefix != "arn" || !PARTITIONS.contains(&partition) || !region.is_empty() || !account_ok
        {
            return None;
        }
        let (kind, rest) = resource.split_once('/')?;
        if rest.is_empty() || rest.split('/').any(str::is_empty) {
            return None;
        }
        match (service, kind) {
            ("iam", "user") => Some(Self::User {
                partition,
                account,
                resource: rest,
            }),
            ("iam", "role") => Some(Self::Role {
                partition,
                account,
                // Role names are unique in an account whatever their path.
                name: rest.rsplit('/').next()?,
            }),
            ("sts", "assumed-role") => {
                let (role, session) = rest.split_once('/')?;
                (!session.contains('/')).then_some(Self::AssumedRole {
                    partition,
                    account,
                    role,
                    session,
                })
            }
            _ => None,
        }
    }

    fn scope(&self) -> (&'a str, &'a str) {
        match *self {
            Self::User {
                partition, account, ..
            }
            | Self::Role {
                partition, account, ..
            }
            | Self::AssumedRole {
                partition, account, ..
            } => (partition, account),
        }
    }

    /// The user or role name a bare `Approvers` entry is compared with.
    fn name(&self) -> &'a str {
        match *self {
            Self::User { resource, .. } => resource.rsplit('/').next().unwrap_or(resource),
            Self::Role { name, .. } => name,
            Self::AssumedRole { role, .. } => role,
        }
    }

    /// The role a caller acts as, if it is one.
    fn role(&self) -> Option<&'a str> {
        match *self {
            Self::Role { name, .. } => Some(name),
            Self::AssumedRole { role, .. } => Some(role),
            Self::User { .. } => None,
        }
    }
}

/// The IAM principal whose policies apply to `caller_arn`, as
/// `iam:SimulatePrincipalPolicy` takes it (`PolicySourceArn`), with the
/// partition and account: an IAM user or role ARN as is, the role of an
/// assumed-role session (`arn:P:iam::A:role/NAME`: the session's ARN
/// carries no role path, so a role with a path is not found by this ARN).
/// `None` for anything else (the root user, federated users, malformed
/// ARNs).
pub(crate) fn policy_source(caller_arn: &str) -> Option<(String, &str, &str)> {
    let principal = Principal::parse(caller_arn.trim())?;
    let (partition, account) = principal.scope();
    let arn = match principal {
        Principal::User { .. } | Principal::Role { .. } => caller_arn.trim().to_owned(),
        Principal::AssumedRole { role, .. } => {
            format!("arn:{partition}:iam::{account}:role/{role}")
        }
    };
    Some((arn, partition, account))
}

/// Whether `caller_arn` is the principal an `aws:approve` step's
/// `Approvers` entry names.
///
/// A user ARN matches that user exactly (its path included); a role ARN
/// matches the role and any session of it, whatever the role's path (an
/// assumed-role ARN carries none); an assumed-role ARN matches that one
/// session; a bare name matches a user or role of that name. Partition and
/// account must agree, and nothing matches on a substring.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn approver_matches(approver: &str, caller_arn: &str) -> bool {
    let Some(caller) = Principal::parse(caller_arn) else {
        return false;
    };
    let approver = approver.trim();
    if !approver.starts_with("arn:") {
        // A bare name: no ARN syntax in it, and the caller's own name.
        let bare = !approver.is_empty() && !approver.contains([':', '/']);
        return bare && approver == caller.name();
    }
    let Some(wanted) = Principal::parse(approver) else {
        return false;
    };
    if wanted.scope() != caller.scope() {
        return false;
    }
    match (wanted, caller) {
        (Principal::User { resource: a, .. }, Principal::User { resource: b, .. }) => a == b,
        (Principal::Role { name, .. }, _) => caller.role() == Some(name),
        (Principal::AssumedRole { .. }, Principal::AssumedRole { .. }) => wanted == caller,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/chatdeploy/session-1";
    const BOB: &str = "arn:aws:iam::111122223333:user/ops/bob";
    const ROLE: &str = "arn:aws:iam::111122223333:role/chatdeploy";

    #[test]
    fn policy_sources_are_users_and_roles() {
        assert_eq!(
            policy_source(SESSION),
            Some((ROLE.to_owned(), "aws", "111122223333"))
        );
        assert_eq!(
            policy_source(BOB),
            Some((BOB.to_owned(), "aws", "111122223333"))
        );
        let pathed = "arn:aws-cn:iam::111122223333:role/ops/chatdeploy";
        assert_eq!(
            policy_source(pathed),
            Some((pathed.to_owned(), "aws-cn", "111122223333"))
        );
        for other in [
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:federated-user/bob",
            "arn:aws:sts::111122223333:assumed-role/chatdeploy",
            "chatdeploy",
            "",
        ] {
            assert_eq!(policy_source(other), None, "{other}");
        }
    }

    #[test]
    fn approvers_match_as_ssm_compares_principals() {
        let table: &[(&str, &str, bool)] = &[
            // An assumed-role session.
            ("arn:aws:iam::111122223333:role/chatdeploy", SESSION, true),
            (
                "arn:aws:iam::111122223333:role/some/path/chatdeploy",
                SESSION,
                true,
            ),
            ("chatdeploy", SESSION, true),
            (SESSION, SESSION, true),
            (
                "arn:aws:sts::111122223333:assumed-role/chatdeploy/session-2",
                SESSION,
                false,
            ),
            ("session-1", SESSION, false),
            ("arn:aws:iam::111122223333:user/chatdeploy", SESSION, false),
            ("arn:aws:iam::444455556666:role/chatdeploy", SESSION, false),
            (
                "arn:aws-cn:iam::111122223333:role/chatdeploy",
                SESSION,
                false,
            ),
            ("arn:aws:iam::111122223333:role/chat", SESSION, false),
            ("arn:aws:iam::111122223333:role/chatdeploy2", SESSION, false),
            ("deploy", SESSION, false),
            // An IAM user with a path.
            (BOB, BOB, true),
            ("bob", BOB, true),
            ("arn:aws:iam::111122223333:user/bob", BOB, false),
            ("arn:aws:iam::111122223333:user/ops/bo", BOB, false),
            ("arn:aws:iam::111122223333:role/bob", BOB, false),
            ("arn:aws:iam::111122223333:role/ops/bob", BOB, false),
            ("arn:aws-us-gov:iam::111122223333:user/ops/bob", BOB, false),
            ("arn:aws:iam::111122223334:user/ops/bob", BOB, false),
            ("ops/bob", BOB, false),
            ("ops", BOB, false),
            ("", BOB, false),
            // A role as the caller itself.
            (ROLE, ROLE, true),
            ("chatdeploy", ROLE, true),
            ("arn:aws:iam::111122223333:role/x/chatdeploy", ROLE, true),
            (SESSION, ROLE, false),
            ("arn:aws:iam::111122223333:user/chatdeploy", ROLE, false),
            // Other partitions agree with themselves.
            (
                "arn:aws-cn:iam::111122223333:user/bob",
                "arn:aws-cn:iam::111122223333:user/bob",
                true,
            ),
            (
                "arn:aws-us-gov:iam::111122223333:role/r",
                "arn:aws-us-gov:sts::111122223333:assumed-role/r/s",
                true,
            ),
            // Malformed either side.
            ("arn:aws:iam::111122223333:user/bob", "bob", false),
            ("arn:aws:iam::1:user/bob", "arn:aws:iam::1:user/bob", false),
            (
                "arn:aws:iam::111122223333:user/bob",
                "arn:aws:iam:us-east-1:111122223333:user/bob",
                false,
            ),
            (
                "arn:aws:sts::111122223333:user/bob",
                "arn:aws:sts::111122223333:user/bob",
                false,
            ),
            (
                "arn:other:iam::111122223333:user/bob",
                "arn:other:iam::111122223333:user/bob",
                false,
            ),
            (
                "chatdeploy",
                "arn:aws:sts::111122223333:assumed-role/chatdeploy",
                false,
            ),
        ];
        for (approver, caller, expected) in table {
            assert_eq!(
                approver_matches(approver, caller),
                *expected,
                "approver {approver:?}, caller {caller:?}"
            );
        }
    }
}
