//! Turns the raw TOML structs into a [`Catalog`], refusing anything
//! inconsistent, with the line and column of the offending value.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::duration::parse_duration_at_most;
use super::error::{CatalogProblem, LoadCatalogError};
use super::raw::{RawApproval, RawCatalog, RawRoles, RawService, SpannedList, SpannedString};
use super::{ApprovalSettings, Catalog, ChatSettings, Roles};
use crate::chat::IdentityRules;
use crate::ids::{ChannelId, Principal};

/// Default for `[approval] timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// The longest approval timeout: SSM's `aws:approve` waits 30 days at most.
const MAX_APPROVAL_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Parses and validates `text`; `origin` names it in error messages, and
/// `ids` are the chat surface's ID rules.
pub(super) fn build(text: &str, origin: &str, ids: &dyn IdentityRules) -> Result<Catalog> {
    let raw: RawCatalog = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
        LoadCatalogError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim().replace('\n', "; "),
        }
    })?;
    Validator {
        text,
        origin,
        ids,
        patterns: std::cell::RefCell::default(),
    }
    .catalog(raw)
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
pub(super) fn is_word(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks raw values against the source text they came from.
pub(super) struct Validator<'a> {
    pub(super) text: &'a str,
    pub(super) origin: &'a str,
    /// The chat surface's ID rules.
    pub(super) ids: &'a dyn IdentityRules,
    /// Compiled version patterns by source text: services often share one
    /// pattern, and a compiled regex (an `Arc` inside) is cheap to share
    /// but not to build (about 16 KB each with Unicode classes).
    pub(super) patterns: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>>,
}

pub(super) type Result<T> = std::result::Result<T, LoadCatalogError>;

impl Validator<'_> {
    /// A located [`LoadCatalogError::Invalid`].
    pub(super) fn fail(
        &self,
        span: Option<Range<usize>>,
        problem: CatalogProblem,
    ) -> LoadCatalogError {
        LoadCatalogError::Invalid {
            origin: self.origin.to_owned(),
            location: span.map(|s| line_col(self.text, s.start)),
            problem: Box::new(problem),
        }
    }

    fn catalog(&self, raw: RawCatalog) -> Result<Catalog> {
        let chat = self.chat(&raw.chat.deploy_channels)?;
        let roles = self.roles(&raw.roles)?;
        let approval = self.approval(&raw.approval)?;

        let services_span = raw.services.as_ref().map(Spanned::span);
        let Some(services) = raw.services.filter(|s| !s.get_ref().is_empty()) else {
            return Err(self.fail(services_span, CatalogProblem::NoServices));
        };
        let services = services.into_inner();
        let owners = self.names(&services)?;
        let mut built = Vec::with_capacity(services.len());
        for (name, service) in &services {
            built.push(self.service(name, service, &roles, &approval)?);
        }
        built.sort_by_key(|s| s.name.to_lowercase());
        let position: HashMap<&str, usize> = built
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let index = owners
            .into_iter()
            .filter_map(|(key, owner)| position.get(owner.as_str()).map(|&i| (key, i)))
            .collect();
        Ok(Catalog {
            chat,
            roles,
            approval,
            services: built,
            index,
        })
    }

    fn chat(&self, channels: &SpannedList) -> Result<ChatSettings> {
        if channels.get_ref().is_empty() {
            return Err(self.fail(Some(channels.span()), CatalogProblem::NoDeployChannels));
        }
        let mut deploy_channels = Vec::new();
        for id in channels.get_ref() {
            let id: ChannelId = self.ids.channel(id.get_ref()).map_err(|reason| {
                let problem = CatalogProblem::InvalidChannel {
                    id: id.get_ref().clone(),
                    reason,
                };
                self.fail(Some(id.span()), problem)
            })?;
            if !deploy_channels.contains(&id) {
                deploy_channels.push(id);
            }
        }
        Ok(ChatSettings { deploy_channels })
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
    pub(super) fn principals(
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
            let principal: Principal = self.ids.principal(id.get_ref()).map_err(|reason| {
                let problem = CatalogProblem::InvalidPrincipal {
                    field: field.to_owned(),
                    id: id.get_ref().clone(),
                    reason,
                };
                self.fail(Some(id.span()), problem)
            })?;
            if !out.contains(&principal) {
                out.push(principal);
            }
        }
        Ok(out)
    }

    pub(super) fn min_approvals(&self, value: &Spanned<i64>, field: &str) -> Result<u32> {
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
            Some(value) => parse_duration_at_most(
                value.get_ref(),
                MAX_APPROVAL_TIMEOUT,
                "30d",
                "an aws:approve step waits 30 days at most",
            )
            .map_err(|e| {
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
}
