//! The AWS part of `check`: credentials, then for each service its
//! document (at the pinned version), its parameters and its approval step,
//! then the bot's permissions for all of them.

use chatdeploy_aws::SsmBackend;
use chatdeploy_core::backend::{BackendError, DeployBackend, DocumentDescription};
use chatdeploy_core::catalog::ApprovalMode;
use chatdeploy_core::{Catalog, Service, preflight};

use super::{CheckSummary, permissions};
use crate::error::sentence;

pub(super) async fn check(catalog: &Catalog, summary: &mut CheckSummary) {
    let backend = match SsmBackend::from_env().await {
        Ok(backend) => backend,
        Err(error) => {
            summary.skip("AWS", &sentence(&error));
            return;
        }
    };
    if let Err(why) = backend.check_credentials().await {
        summary.skip(
            "AWS",
            &format!("no AWS credentials could be loaded ({why}); set AWS_PROFILE (SSO and credential_process profiles work) or AWS_ACCESS_KEY_ID…"),
        );
        return;
    }
    match backend.identity().await {
        Ok(arn) => summary.ok(&format!(
            "AWS: credentials of {arn} in {}",
            backend.region()
        )),
        Err(error @ BackendError::Credentials { .. }) => {
            summary.fail(&format!("AWS: {}", error.user_message()));
            return;
        }
        // STS out of reach: the document checks below say more.
        Err(error) => summary.warn(&format!(
            "AWS: cannot ask STS who the bot is: {}",
            error.user_message()
        )),
    }
    let mut described = Vec::new();
    for service in catalog.services() {
        let document = check_service(&backend, service, summary).await;
        described.push((service, document));
    }
    permissions::check(&backend, &described, summary).await;
}

/// Checks one service; its document's declaration when it could be read.
async fn check_service(
    backend: &SsmBackend,
    service: &Service,
    summary: &mut CheckSummary,
) -> Option<DocumentDescription> {
    let pinned = service.document_version();
    match backend.describe_version(service.document(), pinned).await {
        Ok(document) => {
            let findings = preflight::check_parameters(service, &document);
            if findings.is_empty() {
                summary.ok(&format!(
                    "{}: document {}{} and its parameters",
                    service.name(),
                    service.document(),
                    pinned.map(|v| format!(" version {v}")).unwrap_or_default()
                ));
            }
            for finding in findings {
                summary.fail(&finding.to_string());
            }
            check_gate(backend, service, summary).await;
            return Some(document);
        }
        Err(BackendError::NotFound { .. }) => match pinned {
            Some(version) => summary.fail(&format!(
                "service {}: document {} has no version {version} in {} (document_version in the \
                 configuration); pin an existing version or remove document_version",
                service.name(),
                service.document(),
                backend.region()
            )),
            None => summary.fail(&format!(
                "service {}: document {} does not exist in {}",
                service.name(),
                service.document(),
                backend.region()
            )),
        },
        Err(error) => summary.fail(&format!(
            "service {}: {}",
            service.name(),
            error.user_message()
        )),
    }
    None
}

/// The approval step of a service whose approval lives in its document.
async fn check_gate(backend: &SsmBackend, service: &Service, summary: &mut CheckSummary) {
    if service.approval_mode() != ApprovalMode::Document {
        return;
    }
    let request = preflight::sample_request(service);
    match backend.approval_gate(&request).await {
        Ok(gate) => {
            let (findings, warnings) = preflight::check_gate(service, &gate);
            for warning in &warnings {
                summary.warn(&format!("service {}: {warning}", service.name()));
            }
            if findings.is_empty() {
                let steps: Vec<&str> = gate.steps.iter().map(|s| s.name.as_str()).collect();
                summary.ok(&format!(
                    "{}: approval step {} answerable by the bot ({})",
                    service.name(),
                    steps.join(", "),
                    gate.identity
                ));
            }
            for finding in &findings {
                summary.fail(&finding.to_string());
            }
        }
        Err(error) => summary.fail(&format!(
            "service {}: cannot verify the approval step of document {}: {}",
            service.name(),
            service.document(),
            error.user_message()
        )),
    }
}
