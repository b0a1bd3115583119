//! What the releases of one service need from IAM, call by call.

use chatdeploy_core::backend::StartRequest;

use super::{BotPrincipal, ContextEntry, PermissionCheck};
use crate::deploy::start_tags;

/// What the releases of one service do, as far as permissions go.
#[derive(Debug, Clone)]
pub struct ReleasePermissions<'a> {
    /// A start as a release of the service makes (its document, pinned
    /// version and tags), e.g. `chatdeploy_core::preflight::sample_request`.
    pub request: &'a StartRequest,
    /// Whether the bot reads the document's approval step and signals it
    /// (`approval = "document"`).
    pub approves: bool,
    /// The roles the starts pass to SSM (`AutomationAssumeRole`).
    pub pass_roles: Vec<String>,
}

/// Document name prefixes AWS reserves for its own documents, whose ARNs
/// have no account.
const RESERVED_PREFIXES: [&str; 3] = ["aws", "amazon", "amzn"];

/// The document ARN and the automation-definition ARN (at `version`) of
/// `document`, a name or a shared document's ARN.
fn document_arns(
    principal: &BotPrincipal,
    region: &str,
    document: &str,
    version: &str,
) -> (String, String) {
    if document.starts_with("arn:") && document.contains(":document/") {
        let definition = document.replacen(":document/", ":automation-definition/", 1);
        return (document.to_owned(), format!("{definition}:{version}"));
    }
    let lower = document.to_ascii_lowercase();
    let owner = if RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        ""
    } else {
        principal.account.as_str()
    };
    let base = format!("arn:{}:ssm:{region}:{owner}", principal.partition);
    (
        format!("{base}:document/{document}"),
        format!("{base}:automation-definition/{document}:{version}"),
    )
}

/// What the releases of one service need, call by call, in `region`:
///
/// - `ssm:StartAutomationExecution` on the document's automation
///   definition (at the pinned version, `$DEFAULT` otherwise) and on the
///   execution it creates, with the start's tags as `aws:RequestTag/…` and
///   `aws:TagKeys`; `ssm:AddTagsToResource` on the execution likewise (not
///   [`required`](PermissionCheck::required));
/// - `ssm:DescribeDocument` on the document, and `ssm:GetDocument` when the
///   bot reads its approval step;
/// - `ssm:GetAutomationExecution`, `ssm:DescribeAutomationStepExecutions`,
///   `ssm:StopAutomationExecution`, and `ssm:SendAutomationSignal` when the
///   bot approves, on `automation-execution/*` carrying the start's tags
///   (`aws:ResourceTag/…`);
/// - `iam:PassRole` on each role passed, to `ssm.amazonaws.com`
///   (`iam:PassedToService`).
pub fn release_checks(
    principal: &BotPrincipal,
    region: &str,
    release: &ReleasePermissions<'_>,
) -> Vec<PermissionCheck> {
    let request = release.request;
    let service = &request.service;
    let version = request.document_version.as_deref().unwrap_or("$DEFAULT");
    let (document, definition) = document_arns(principal, region, &request.document, version);
    let executions = format!(
        "arn:{}:ssm:{region}:{}:automation-execution/*",
        principal.partition, principal.account
    );
    let tags = start_tags(request);
    let mut requested: Vec<ContextEntry> = tags
        .iter()
        .map(|(k, v)| ContextEntry::string(format!("aws:RequestTag/{k}"), *v))
        .collect();
    requested.push(ContextEntry::string_list(
        "aws:TagKeys",
        tags.iter().map(|(k, _)| (*k).to_owned()).collect(),
    ));
    let tagged: Vec<ContextEntry> = tags
        .iter()
        .map(|(k, v)| ContextEntry::string(format!("aws:ResourceTag/{k}"), *v))
        .collect();
    let check = |action: &str, resources: &[&String], context: &[ContextEntry], purpose: String| {
        PermissionCheck {
            action: action.to_owned(),
            resources: resources.iter().map(|r| (*r).clone()).collect(),
            context: context.to_vec(),
            purpose,
            required: true,
        }
    };
    let mut checks = vec![
        check(
            "ssm:StartAutomationExecution",
            &[&definition, &executions],
            &requested,
            format!("start releases of {service}"),
        ),
        PermissionCheck {
            required: false,
            ..check(
                "ssm:AddTagsToResource",
                &[&executions],
                &requested,
                format!("tag the executions of {service} as it starts them"),
            )
        },
        check(
            "ssm:DescribeDocument",
            &[&document],
            &[],
            format!("read the parameters of document {}", request.document),
        ),
    ];
    if release.approves {
        checks.push(check(
            "ssm:GetDocument",
            &[&document],
            &[],
            format!("read the approval step of document {}", request.document),
        ));
    }
    checks.push(check(
        "ssm:GetAutomationExecution",
        &[&executions],
        &tagged,
        format!("follow releases of {service}"),
    ));
    checks.push(check(
        "ssm:DescribeAutomationStepExecutions",
        &[&executions],
        &tagged,
        format!("read every step of long releases of {service}"),
    ));
    if release.approves {
        checks.push(check(
            "ssm:SendAutomationSignal",
            &[&executions],
            &tagged,
            format!("answer the approval step of releases of {service}"),
        ));
    }
    checks.push(check(
        "ssm:StopAutomationExecution",
        &[&executions],
        &tagged,
        format!("cancel releases of {service}"),
    ));
    let passed = [ContextEntry::string(
        "iam:PassedToService",
        "ssm.amazonaws.com",
    )];
    for role in &release.pass_roles {
        checks.push(check(
            "iam:PassRole",
            &[role],
            &passed,
            format!("pass {role} to SSM (AutomationAssumeRole of {service})"),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> BotPrincipal {
        BotPrincipal::from_caller("arn:aws:sts::111122223333:assumed-role/chatdeploy/s-1").unwrap()
    }

    #[test]
    fn documents_are_named_by_owner() {
        let bot = principal();
        assert_eq!(
            document_arns(&bot, "eu-west-1", "Deploy-App", "$DEFAULT"),
            (
                "arn:aws:ssm:eu-west-1:111122223333:document/Deploy-App".to_owned(),
                "arn:aws:ssm:eu-west-1:111122223333:automation-definition/Deploy-App:$DEFAULT"
                    .to_owned()
            )
        );
        assert_eq!(
            document_arns(&bot, "eu-west-1", "AWS-RestartEC2Instance", "3").1,
            "arn:aws:ssm:eu-west-1::automation-definition/AWS-RestartEC2Instance:3"
        );
        let shared = "arn:aws:ssm:eu-west-1:444455556666:document/Shared";
        assert_eq!(
            document_arns(&bot, "eu-west-1", shared, "2"),
            (
                shared.to_owned(),
                "arn:aws:ssm:eu-west-1:444455556666:automation-definition/Shared:2".to_owned()
            )
        );
    }
}
