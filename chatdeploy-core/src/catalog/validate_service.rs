//! Validation of one `[services.<name>]` table: version pattern, document,
//! effective roles, environments and templates.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use regex::Regex;
use toml::Spanned;

use super::error::CatalogProblem;
use super::raw::{RawService, SpannedList, SpannedString};
use super::template::{ParameterTemplate, Template, TemplateError};
use super::validate::{Result, Validator, is_word};
use super::{ApprovalMode, ApprovalSettings, Roles, Service};
use crate::ids::Principal;

/// The compact explanation from a regex error (its last `error: …` line).
fn regex_message(err: &regex::Error) -> String {
    let full = err.to_string();
    full.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(|| full.trim().replace('\n', " "), str::to_owned)
        .trim_end_matches('.')
        .to_owned()
}

impl Validator<'_> {
    pub(super) fn service(
        &self,
        key: &SpannedString,
        raw: &RawService,
        roles: &Roles,
        approval: &ApprovalSettings,
    ) -> Result<Service> {
        let name = key.get_ref().clone();
        let empty = |field: &str, span: Range<usize>| {
            let problem = CatalogProblem::EmptyField {
                service: name.clone(),
                field: field.to_owned(),
            };
            self.fail(Some(span), problem)
        };

        let pattern = &raw.version_pattern;
        if pattern.get_ref().trim().is_empty() {
            return Err(empty("version_pattern", pattern.span()));
        }
        let cached = self.patterns.borrow().get(pattern.get_ref()).cloned();
        let version_pattern = match cached {
            Some(compiled) => compiled,
            None => {
                let compiled = Regex::new(pattern.get_ref()).map_err(|e| {
                    let problem = CatalogProblem::InvalidVersionPattern {
                        service: name.clone(),
                        pattern: pattern.get_ref().clone(),
                        message: regex_message(&e),
                    };
                    self.fail(Some(pattern.span()), problem)
                })?;
                self.patterns
                    .borrow_mut()
                    .insert(pattern.get_ref().clone(), compiled.clone());
                compiled
            }
        };
        if let Some(example) = &raw.version_example
            && !version_pattern.is_match(example.get_ref())
        {
            let problem = CatalogProblem::ExampleMismatch {
                service: name.clone(),
                example: example.get_ref().clone(),
                pattern: pattern.get_ref().clone(),
            };
            return Err(self.fail(Some(example.span()), problem));
        }

        if raw.document.get_ref().trim().is_empty() {
            return Err(empty("document", raw.document.span()));
        }
        if let Some(version) = &raw.document_version
            && version.get_ref().trim().is_empty()
        {
            return Err(empty("document_version", version.span()));
        }

        let field = |suffix: &str| format!("services.{name}.{suffix}");
        let approvers = match &raw.approvers {
            Some(list) => self.principals(list, &field("approvers"), false)?,
            None => roles.approvers.clone(),
        };
        let deployers = match &raw.deployers {
            Some(list) => Some(self.principals(list, &field("deployers"), true)?),
            None => roles.deployers.clone(),
        };
        let min_approvals = match &raw.min_approvals {
            Some(value) => self.min_approvals(value, &field("min_approvals"))?,
            None => approval.min_approvals,
        };
        let approval_mode = raw
            .approval
            .as_ref()
            .map_or(ApprovalMode::default(), |m| *m.get_ref());
        if approval_mode.requires_approval() {
            self.check_approvers(key, raw, &approvers, min_approvals)?;
        }

        let environments = self.environments(&name, raw.environments.as_ref())?;

        let mut parameters = BTreeMap::new();
        for (param, value) in &raw.parameters {
            let template =
                self.template(&name, &format!("parameters.{}", param.get_ref()), value)?;
            parameters.insert(param.get_ref().clone(), template);
        }
        let release_url = match &raw.release_url {
            Some(value) => Some(self.template(&name, "release_url", value)?),
            None => None,
        };

        Ok(Service {
            aliases: raw.aliases.iter().map(|a| a.get_ref().clone()).collect(),
            description: raw.description.clone(),
            version_pattern,
            version_example: raw.version_example.as_ref().map(|e| e.get_ref().clone()),
            document: raw.document.get_ref().clone(),
            document_version: raw.document_version.as_ref().map(|v| v.get_ref().clone()),
            approval_mode,
            approvers,
            deployers,
            min_approvals,
            environments,
            parameters: ParameterTemplate::new(parameters),
            release_url,
            runbook: raw.runbook.clone(),
            name,
        })
    }

    /// Fails closed when a service that needs approval cannot get enough.
    fn check_approvers(
        &self,
        key: &SpannedString,
        raw: &RawService,
        approvers: &[Principal],
        min_approvals: u32,
    ) -> Result<()> {
        let service = key.get_ref().clone();
        if approvers.is_empty() {
            let span = raw
                .approval
                .as_ref()
                .map(Spanned::span)
                .or_else(|| raw.approvers.as_ref().map(Spanned::span))
                .unwrap_or_else(|| key.span());
            return Err(self.fail(Some(span), CatalogProblem::NoApprovers { service }));
        }
        let has_group = approvers.iter().any(|p| matches!(p, Principal::Group(_)));
        let users = approvers.len();
        if !has_group && users < usize::try_from(min_approvals).unwrap_or(usize::MAX) {
            let span = raw
                .min_approvals
                .as_ref()
                .map(Spanned::span)
                .or_else(|| raw.approvers.as_ref().map(Spanned::span))
                .unwrap_or_else(|| key.span());
            let problem = CatalogProblem::UnsatisfiableApprovals {
                service,
                min_approvals,
                approvers: users,
            };
            return Err(self.fail(Some(span), problem));
        }
        Ok(())
    }

    fn environments(&self, service: &str, raw: Option<&SpannedList>) -> Result<Vec<String>> {
        let Some(list) = raw else {
            return Ok(vec!["production".to_owned()]);
        };
        let invalid = |span: Range<usize>, reason: String| {
            let problem = CatalogProblem::InvalidEnvironments {
                service: service.to_owned(),
                reason,
            };
            self.fail(Some(span), problem)
        };
        if list.get_ref().is_empty() {
            return Err(invalid(list.span(), "it is empty".to_owned()));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for env in list.get_ref() {
            let value = env.get_ref();
            if !is_word(value) {
                return Err(invalid(
                    env.span(),
                    format!("\"{value}\" is not a single word"),
                ));
            }
            if !seen.insert(value.to_lowercase()) {
                return Err(invalid(env.span(), format!("\"{value}\" is listed twice")));
            }
            out.push(value.clone());
        }
        Ok(out)
    }

    fn template(&self, service: &str, field: &str, value: &SpannedString) -> Result<Template> {
        Template::parse(value.get_ref()).map_err(|e| {
            let span = value.span();
            // Point at the brace itself when the string is written without
            // escapes, so that its text maps one-to-one onto the file.
            let quoted = self.text.get(span.clone()).unwrap_or_default();
            let plain = quoted.len() >= 2
                && (quoted.starts_with('"') || quoted.starts_with('\''))
                && quoted.get(1..quoted.len() - 1) == Some(value.get_ref().as_str());
            let start = if plain {
                span.start + 1 + e.offset()
            } else {
                span.start
            };
            let (service, field) = (service.to_owned(), field.to_owned());
            let problem = match e {
                TemplateError::Unknown { name, .. } => CatalogProblem::UnknownPlaceholder {
                    service,
                    field,
                    placeholder: name,
                },
                TemplateError::Unclosed { .. } => {
                    CatalogProblem::UnclosedPlaceholder { service, field }
                }
                TemplateError::Unopened { .. } => CatalogProblem::UnmatchedBrace { service, field },
            };
            self.fail(Some(start..start), problem)
        })
    }
}
