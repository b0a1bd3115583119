//! Preflight checks of the catalog against the backend's documents: what
//! `--check` reports before the bot goes live. Pure functions; the caller
//! fetches the [`DocumentDescription`]s.

use std::fmt;

use crate::backend::{ApprovalGate, DocumentDescription, StartRequest};
use crate::catalog::{ApprovalMode, Service, TemplateContext};
use crate::ids::{DeploymentId, EventId, UserId};

/// One problem a preflight check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The document requires a parameter the service's template does not
    /// provide: every start would be refused.
    MissingRequiredParameter {
        /// The service.
        service: String,
        /// Its document.
        document: String,
        /// The parameter.
        parameter: String,
    },
    /// The service's approval lives in its document, but the document has
    /// no approval step the bot may answer: every start is refused.
    ApprovalGate {
        /// The service.
        service: String,
        /// What is wrong and what to change.
        problem: String,
    },
    /// The template provides a parameter the document does not declare:
    /// SSM refuses unknown parameters, so every start would be refused.
    UndeclaredParameter {
        /// The service.
        service: String,
        /// Its document.
        document: String,
        /// The parameter.
        parameter: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingRequiredParameter {
                service,
                document,
                parameter,
            } => write!(
                f,
                "service {service}: document {document} requires parameter {parameter}, but \
                 `parameters` does not set it; add {parameter} = \"…\" to [services.{service}]"
            ),
            Self::ApprovalGate { service, problem } => write!(f, "service {service}: {problem}"),
            Self::UndeclaredParameter {
                service,
                document,
                parameter,
            } => write!(
                f,
                "service {service}: `parameters` sets {parameter}, which document {document} \
                 does not declare; remove it or add it to the document"
            ),
        }
    }
}

/// Compares a service's parameter template with its document's declared
/// parameters.
pub fn check_parameters(service: &Service, document: &DocumentDescription) -> Vec<Finding> {
    let template = service.parameters();
    let mut findings: Vec<Finding> = document
        .parameters
        .iter()
        .filter(|p| p.is_required() && template.get(&p.name).is_none())
        .map(|p| Finding::MissingRequiredParameter {
            service: service.name().to_owned(),
            document: service.document().to_owned(),
            parameter: p.name.clone(),
        })
        .collect();
    findings.extend(
        template
            .iter()
            .filter(|(name, _)| !document.parameters.iter().any(|p| p.name == *name))
            .map(|(name, _)| Finding::UndeclaredParameter {
                service: service.name().to_owned(),
                document: service.document().to_owned(),
                parameter: name.to_owned(),
            }),
    );
    findings
}

/// A start request as a release of `service` would make, with sample
/// values (the version example, a check requester), so that a backend can
/// describe the document's approval gate before any release.
pub fn sample_request(service: &Service) -> StartRequest {
    let version = service.version_example().unwrap_or("0");
    let environment = service.default_environment();
    let context = TemplateContext {
        service: service.name(),
        version,
        env: environment,
        requester: "preflight",
        deployment_id: "d-preflight",
        ticket: None,
    };
    StartRequest {
        deployment: DeploymentId::new("d-preflight"),
        service: service.name().to_owned(),
        version: version.to_owned(),
        environment: environment.to_owned(),
        requester: UserId::new("preflight"),
        document: service.document().to_owned(),
        document_version: service.document_version().map(str::to_owned),
        parameters: service.render_parameters(&context),
        idempotency_token: crate::backend::idempotency_token(&EventId::new("preflight"), "start"),
    }
}

/// Checks a service's approval gate: a service whose approval lives in its
/// document needs an approval step the bot may answer (the start is
/// refused otherwise); the rest are warnings worth fixing.
pub fn check_gate(service: &Service, gate: &ApprovalGate) -> (Vec<Finding>, Vec<String>) {
    if service.approval_mode() != ApprovalMode::Document {
        return (Vec::new(), Vec::new());
    }
    let findings = gate
        .refusal(service.document())
        .map(|problem| Finding::ApprovalGate {
            service: service.name().to_owned(),
            problem,
        })
        .into_iter()
        .collect();
    (findings, gate.warnings(service.document()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use crate::backend::DocumentParameter;

    fn parameter(name: &str, default_value: Option<&str>) -> DocumentParameter {
        DocumentParameter {
            name: name.into(),
            kind: "String".into(),
            default_value: default_value.map(str::to_owned),
            description: None,
        }
    }

    #[test]
    fn finds_missing_required_and_undeclared_parameters() {
        let catalog = Catalog::from_toml_str(
            r#"
            [chat]
            deploy_channels = ["C0DEPLOY"]
            [services.app]
            version_pattern = '^r-\d+$'
            document = "Deploy-App"
            approval = "none"
            parameters = { ReleaseVersion = "{version}", Colour = "blue" }
            "#,
            "t.toml",
        )
        .unwrap();
        let service = catalog.service("app").unwrap();
        let document = DocumentDescription {
            name: "Deploy-App".into(),
            version: None,
            parameters: vec![
                parameter("ReleaseVersion", None),
                parameter("RequestedBy", None),
                parameter("Environment", Some("production")),
            ],
        };
        let findings = check_parameters(service, &document);
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(
            findings[0].to_string(),
            "service app: document Deploy-App requires parameter RequestedBy, but `parameters` \
             does not set it; add RequestedBy = \"…\" to [services.app]"
        );
        assert!(
            matches!(&findings[1], Finding::UndeclaredParameter { parameter, .. } if parameter == "Colour")
        );
    }
}
