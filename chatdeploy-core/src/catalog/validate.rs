//! Turns the raw TOML structs into a [`Catalog`], refusing anything
//! inconsistent, with the line and column of the offending value.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use regex::Regex;
use toml::Spanned;

use super::duration::parse_duration;
use super::error::{CatalogProblem, LoadCatalogError};
use super::raw::{RawApproval, RawCatalog, RawRoles, RawService, SpannedList, SpannedString};
use super::template::{ParameterTemplate, Template, TemplateError};
use super::{ApprovalMode, ApprovalSettings, Catalog, ChatSettings, Roles, Service};
use crate::ids::{ChannelId, Principal};

/// Default for `[approval] timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// Parses and validates `text`; `origin` names it in error messages.
pub(super) fn build(text: &str, origin: &str) -> Result<Catalog> {
    let raw: RawCatalog = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
        LoadCatalogError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim().replace('\n', "; "),
        }
    })?;
    Validator { text, origin }.catalog(raw)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Whether `name` could be typed as one word of a command.
fn is_word(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `id` looks like a channel ID that can host commands.
fn is_channel_id(id: &str) -> bool {
    id.len() >= 2
        && (id.starts_with('C') || id.starts_with('G'))
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The compact explanation from a regex error (its last `error: …` line).
fn regex_message(err: &regex::Error) -> String {
    let full = err.to_string();
    full.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(|| full.trim().replace('\n', " "), str::to_owned)
}

struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
}

type Result<T> = std::result::Result<T, LoadCatalogError>;

impl Validator<'_> {
    fn fail(&self, span: Option<Range<usize>>, problem: CatalogProblem) -> LoadCatalogError {
        LoadCatalogError::Invalid {
            origin: self.origin.to_owned(),
            location: span.map(|s| line_col(self.text, s.start)),
            problem: Box::new(problem),
        }
    }

    fn catalog(&self, raw: RawCatalog) -> Result<Catalog> {
        let channels = &raw.chat.deploy_channels;
        if channels.get_ref().is_empty() {
            return Err(self.fail(Some(channels.span()), CatalogProblem::NoDeployChannels));
        }
        let mut deploy_channels = Vec::new();
        for id in channels.get_ref() {
            if !is_channel_id(id.get_ref()) {
                let id_text = id.get_ref().clone();
                return Err(self.fail(
                    Some(id.span()),
                    CatalogProblem::InvalidChannel { id: id_text },
                ));
            }
            let id = ChannelId::new(id.get_ref().as_str());
            if !deploy_channels.contains(&id) {
                deploy_channels.push(id);
            }
        }
        let roles = self.roles(&raw.roles)?;
        let approval = self.approval(&raw.approval)?;

        let Some(services) = raw.services.filter(|s| !s.get_ref().is_empty()) else {
            return Err(self.fail(None, CatalogProblem::NoServices));
        };
        let services = services.into_inner();
        let index = self.names(&services)?;
        let mut built = Vec::with_capacity(services.len());
        for (name, service) in &services {
            built.push(self.service(name, service, &roles, &approval)?);
        }
        built.sort_by_key(|s| s.name.to_lowercase());
        let index = index
            .into_iter()
            .filter_map(|(key, owner)| built.iter().position(|s| s.name == owner).map(|i| (key, i)))
            .collect();
        Ok(Catalog {
            chat: ChatSettings { deploy_channels },
            roles,
            approval,
            services: built,
            index,
        })
    }

    fn roles(&self, raw: &RawRoles) -> Result<Roles> {
        let deployers = match &raw.deployers {
            Some(list) => Some(self.principals(list, "roles.deployers", true)?),
            None => None,
        };
        let approvers = match &raw.approvers {
            Some(list) => self.principals(list, "roles.approvers", false)?,
            None => Vec::new(),
        };
        Ok(Roles {
            deployers,
            approvers,
        })
    }

    /// The principals of `list`, without repeats. With `deployers`, an empty
    /// list is refused (it would lock everybody out).
    fn principals(
        &self,
        list: &SpannedList,
        field: &str,
        deployers: bool,
    ) -> Result<Vec<Principal>> {
        if deployers && list.get_ref().is_empty() {
            let problem = CatalogProblem::EmptyDeployers {
                field: field.to_owned(),
            };
            return Err(self.fail(Some(list.span()), problem));
        }
        let mut out = Vec::new();
        for id in list.get_ref() {
            let Some(principal) = Principal::from_config_id(id.get_ref()) else {
                let problem = CatalogProblem::InvalidPrincipal {
                    field: field.to_owned(),
                    id: id.get_ref().clone(),
                };
                return Err(self.fail(Some(id.span()), problem));
            };
            if !out.contains(&principal) {
                out.push(principal);
            }
        }
        Ok(out)
    }

    fn min_approvals(&self, value: &Spanned<i64>, field: &str) -> Result<u32> {
        match u32::try_from(*value.get_ref()) {
            Ok(n) if n >= 1 => Ok(n),
            _ => {
                let problem = CatalogProblem::InvalidMinApprovals {
                    field: field.to_owned(),
                    value: *value.get_ref(),
                };
                Err(self.fail(Some(value.span()), problem))
            }
        }
    }

    fn approval(&self, raw: &RawApproval) -> Result<ApprovalSettings> {
        let min_approvals = match &raw.min_approvals {
            Some(value) => self.min_approvals(value, "approval.min_approvals")?,
            None => 1,
        };
        let timeout = match &raw.timeout {
            Some(value) => parse_duration(value.get_ref()).map_err(|e| {
                let problem = CatalogProblem::InvalidDuration {
                    value: value.get_ref().clone(),
                    reason: e.reason(),
                };
                self.fail(Some(value.span()), problem)
            })?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(ApprovalSettings {
            min_approvals,
            allow_self_approval: raw.allow_self_approval.unwrap_or(false),
            timeout,
        })
    }

    /// Checks that names and aliases are single words and unique
    /// (case-insensitively); returns lower-cased name or alias to service name.
    fn names(
        &self,
        services: &BTreeMap<SpannedString, RawService>,
    ) -> Result<HashMap<String, String>> {
        let mut index: HashMap<String, String> = HashMap::new();
        // Names first, so that an alias clashing with a name blames the alias.
        let names = services.keys().map(|name| (name, name));
        let aliases = services
            .iter()
            .flat_map(|(name, service)| service.aliases.iter().map(move |alias| (name, alias)));
        for (owner, word) in names.chain(aliases) {
            if !is_word(word.get_ref()) {
                let problem = CatalogProblem::InvalidServiceName {
                    name: word.get_ref().clone(),
                };
                return Err(self.fail(Some(word.span()), problem));
            }
            let key = word.get_ref().to_lowercase();
            if let Some(first) = index.get(&key) {
                let problem = CatalogProblem::DuplicateAlias {
                    alias: word.get_ref().clone(),
                    first_service: first.clone(),
                    second_service: owner.get_ref().clone(),
                };
                return Err(self.fail(Some(word.span()), problem));
            }
            index.insert(key, owner.get_ref().clone());
        }
        Ok(index)
    }

    fn service(
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
        let version_pattern = Regex::new(pattern.get_ref()).map_err(|e| {
            let problem = CatalogProblem::InvalidVersionPattern {
                service: name.clone(),
                pattern: pattern.get_ref().clone(),
                message: regex_message(&e),
            };
            self.fail(Some(pattern.span()), problem)
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_chars() {
        let text = "ab\nüx = 1\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2));
        assert_eq!(line_col(text, 4), (2, 1));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn channel_ids_need_c_or_g() {
        assert!(is_channel_id("C0PRODDEPLOY"));
        assert!(is_channel_id("G0PRIVATE"));
        assert!(!is_channel_id("#deploys"));
        assert!(!is_channel_id("D0DIRECT"));
        assert!(!is_channel_id("C"));
        assert!(!is_channel_id("c0lower"));
    }
}
