//! The service catalog: the validated TOML configuration of channels, roles,
//! approval settings and the mapping from service names to automation
//! documents.
//!
//! The whole file is checked when it is loaded; a catalog that loads is
//! consistent (every placeholder is known, every version pattern compiles,
//! every service that needs approval has approvers), so later lookups only
//! fail on user input. See [`Catalog::from_toml_str`] for the format.

mod duration;
mod error;
mod raw;
mod template;
mod validate;
mod validate_service;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::chat::{IdentityRules, OpaqueIdentities};
use crate::ids::{ChannelId, Principal};
use crate::suggest::{did_you_mean, lookalike};

pub use error::{
    CatalogProblem, LoadCatalogError, UnknownEnvironmentError, UnknownServiceError,
    VersionMismatchError,
};
pub use template::{ParameterTemplate, Placeholder, Template, TemplateContext};

/// The validated configuration. Build it with [`Catalog::load`] or
/// [`Catalog::from_toml_str`].
#[derive(Debug, Clone)]
pub struct Catalog {
    chat: ChatSettings,
    roles: Roles,
    approval: ApprovalSettings,
    /// Sorted by name, case-insensitively.
    services: Vec<Service>,
    /// Lower-cased names and aliases to indexes into `services`.
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Parses and validates a catalog from TOML text. `origin` (usually the
    /// file name) prefixes every error message, followed by the line and
    /// column of the offending value.
    ///
    /// ```toml
    /// [chat]
    /// deploy_channels = ["C0PRODDEPLOY"]   # mutating commands only here
    /// [roles]
    /// deployers = ["U01", "group:devs"]    # omitted = anyone in deploy_channels
    /// approvers = ["U02", "U03"]
    /// [approval]
    /// min_approvals = 1                    # default 1
    /// allow_self_approval = false          # default false
    /// timeout = "2h"                       # default "2h"; units d, h, m, s
    /// [services.app]
    /// aliases = ["api"]
    /// version_pattern = '^r-\d+\.\d+\.\d+$'
    /// version_example = "r-99.1.0"
    /// document = "Deploy-App"              # SSM Automation document name or ARN
    /// approval = "document"                # "document" | "before_start" | "none"
    /// environments = ["production", "staging"]
    /// parameters = { ReleaseVersion = "{version}", RequestedBy = "{requester}" }
    /// release_url = "https://github.com/acme/app/releases/tag/{version}"
    /// ```
    ///
    /// Unknown keys are refused. `version_pattern` is used exactly as
    /// written: no anchors are added, so write `^…$` to match the whole
    /// version. Templates may use the placeholders of [`Placeholder`].
    ///
    /// # Example
    ///
    /// ```
    /// use chatdeploy_core::catalog::{Catalog, LoadCatalogError};
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let catalog = Catalog::from_toml_str(
    ///         r#"
    ///         [chat]
    ///         deploy_channels = ["C0PRODDEPLOY"]
    ///         [roles]
    ///         approvers = ["U02"]
    ///         [services.app]
    ///         aliases = ["api"]
    ///         version_pattern = '^r-\d+\.\d+\.\d+$'
    ///         document = "Deploy-App"
    ///         "#,
    ///         "chatdeploy.toml",
    ///     )?;
    ///     let app = catalog.service("API")?;
    ///     assert_eq!(app.name(), "app");
    ///     app.check_version("r-99.1.0")?;
    ///     assert!(app.check_version("99.1").is_err());
    ///
    ///     let err = Catalog::from_toml_str("[chat]\ndeploy_channels = []\n", "x.toml")
    ///         .expect_err("no deploy channel");
    ///     assert!(matches!(err, LoadCatalogError::Invalid { .. }));
    ///     assert!(err.to_string().starts_with("x.toml:2:19: "));
    ///     Ok(())
    /// }
    /// ```
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Catalog, LoadCatalogError> {
        Self::from_toml_str_with(text, origin, &OpaqueIdentities)
    }

    /// Like [`Catalog::from_toml_str`], checking user, group and channel
    /// IDs with a chat surface's rules (e.g. Slack's `U…`/`S…`/`C…`).
    ///
    /// # Errors
    ///
    /// [`LoadCatalogError`], with the line and column of the offending
    /// value.
    pub fn from_toml_str_with(
        text: &str,
        origin: &str,
        ids: &dyn IdentityRules,
    ) -> Result<Catalog, LoadCatalogError> {
        validate::build(text, origin, ids)
    }

    /// Reads and validates the catalog file at `path`, with opaque IDs;
    /// messages name the path as given.
    ///
    /// # Errors
    ///
    /// [`LoadCatalogError`]: the file cannot be read, or what
    /// [`Catalog::from_toml_str`] refuses.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalog, LoadCatalogError> {
        Self::load_with(path, &OpaqueIdentities)
    }

    /// Like [`Catalog::load`], checking IDs with a chat surface's rules.
    ///
    /// # Errors
    ///
    /// As [`Catalog::load`].
    pub fn load_with(
        path: impl AsRef<Path>,
        ids: &dyn IdentityRules,
    ) -> Result<Catalog, LoadCatalogError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadCatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str_with(&text, &path.display().to_string(), ids)
    }

    /// `[chat]`: where mutating commands are allowed.
    pub fn chat(&self) -> &ChatSettings {
        &self.chat
    }

    /// `[roles]`: the default deployers and approvers.
    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// `[approval]`: the approval rules.
    pub fn approval(&self) -> &ApprovalSettings {
        &self.approval
    }

    /// All services, sorted by name.
    pub fn services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.services.iter()
    }

    /// The service with this name or alias, compared case-insensitively.
    pub fn service(&self, name_or_alias: &str) -> Result<&Service, UnknownServiceError> {
        if let Some(&i) = self.index.get(&name_or_alias.to_lowercase()) {
            return Ok(&self.services[i]);
        }
        let candidates = || {
            self.services.iter().flat_map(|s| {
                std::iter::once(s.name.as_str()).chain(s.aliases.iter().map(String::as_str))
            })
        };
        let lookalike = candidates().find_map(|c| Some((c, lookalike(name_or_alias, c)?)));
        let (suggestion, lookalike) = match lookalike {
            Some((name, lookalike)) => (Some(name), Some(lookalike)),
            None => (did_you_mean(name_or_alias, candidates()), None),
        };
        Err(UnknownServiceError {
            given: error::truncate_input(name_or_alias),
            suggestion: suggestion.map(str::to_owned),
            lookalike,
            known: self.services.iter().map(|s| s.name.clone()).collect(),
        })
    }
}

/// `[chat]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSettings {
    deploy_channels: Vec<ChannelId>,
}

impl ChatSettings {
    /// The channels where mutating commands are allowed (never empty).
    pub fn deploy_channels(&self) -> &[ChannelId] {
        &self.deploy_channels
    }

    /// Whether mutating commands are allowed in `channel`.
    pub fn is_deploy_channel(&self, channel: &ChannelId) -> bool {
        self.deploy_channels.contains(channel)
    }
}

/// `[roles]`: the defaults that services may override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    deployers: Option<Vec<Principal>>,
    approvers: Vec<Principal>,
}

impl Roles {
    /// Who may start releases; `None` means anyone in a deploy channel.
    pub fn deployers(&self) -> Option<&[Principal]> {
        self.deployers.as_deref()
    }

    /// Who may approve releases (may be empty when every service overrides
    /// it or needs no approval).
    pub fn approvers(&self) -> &[Principal] {
        &self.approvers
    }
}

/// `[approval]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSettings {
    min_approvals: u32,
    allow_self_approval: bool,
    timeout: Duration,
}

impl ApprovalSettings {
    /// Approvals a release needs by default (at least 1).
    pub fn min_approvals(&self) -> u32 {
        self.min_approvals
    }

    /// Whether the requester may approve their own release (default `false`).
    pub fn allow_self_approval(&self) -> bool {
        self.allow_self_approval
    }

    /// How long a release waits for approval before it times out (default 2 hours).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// When a service's releases are approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// The automation document's own `aws:approve` step (the default).
    #[default]
    Document,
    /// In chat, before the execution starts.
    BeforeStart,
    /// No approval.
    None,
}

impl ApprovalMode {
    /// Whether releases need approvals at all.
    pub fn requires_approval(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// One deployable service, with the role settings already resolved.
#[derive(Debug, Clone)]
pub struct Service {
    name: String,
    aliases: Vec<String>,
    description: Option<String>,
    version_pattern: Regex,
    version_example: Option<String>,
    document: String,
    document_version: Option<String>,
    approval_mode: ApprovalMode,
    approvers: Vec<Principal>,
    deployers: Option<Vec<Principal>>,
    min_approvals: u32,
    environments: Vec<String>,
    parameters: ParameterTemplate,
    release_url: Option<Template>,
    runbook: Option<String>,
}

impl Service {
    /// The canonical name (the table key in `[services.<name>]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Other names that refer to this service, as written.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// A one-line description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The pattern versions must match, exactly as written (no anchors are
    /// added: an unanchored pattern matches any version containing a match).
    pub fn version_pattern(&self) -> &Regex {
        &self.version_pattern
    }

    /// An example version, shown in help and errors.
    pub fn version_example(&self) -> Option<&str> {
        self.version_example.as_deref()
    }

    /// The SSM Automation document name or ARN.
    pub fn document(&self) -> &str {
        &self.document
    }

    /// The document version to run; `None` means the default version.
    pub fn document_version(&self) -> Option<&str> {
        self.document_version.as_deref()
    }

    /// When releases are approved.
    pub fn approval_mode(&self) -> ApprovalMode {
        self.approval_mode
    }

    /// Who may approve: the service's own list, else `[roles] approvers`.
    pub fn approvers(&self) -> &[Principal] {
        &self.approvers
    }

    /// Who may deploy: the service's own list, else `[roles] deployers`;
    /// `None` means anyone in a deploy channel.
    pub fn deployers(&self) -> Option<&[Principal]> {
        self.deployers.as_deref()
    }

    /// Approvals a release needs: the service's own value, else `[approval]`'s.
    pub fn min_approvals(&self) -> u32 {
        self.min_approvals
    }

    /// The environments, default first (`["production"]` unless configured).
    pub fn environments(&self) -> &[String] {
        &self.environments
    }

    /// The environment used when none is named.
    pub fn default_environment(&self) -> &str {
        self.environments
            .first()
            .map_or("production", String::as_str)
    }

    /// The configured spelling of `requested` (compared case-insensitively),
    /// or the default environment for `None`.
    pub fn environment(&self, requested: Option<&str>) -> Result<&str, UnknownEnvironmentError> {
        let Some(requested) = requested else {
            return Ok(self.default_environment());
        };
        let wanted = requested.to_lowercase();
        self.environments
            .iter()
            .find(|e| e.to_lowercase() == wanted)
            .map(String::as_str)
            .ok_or_else(|| UnknownEnvironmentError {
                service: self.name.clone(),
                given: error::truncate_input(requested),
                known: self.environments.clone(),
            })
    }

    /// Whether `version` matches [`version_pattern`](Self::version_pattern).
    pub fn check_version(&self, version: &str) -> Result<(), VersionMismatchError> {
        if self.version_pattern.is_match(version) {
            return Ok(());
        }
        Err(VersionMismatchError {
            service: self.name.clone(),
            version: error::truncate_input(version),
            pattern: self.version_pattern.as_str().to_owned(),
            example: self.version_example.clone(),
        })
    }

    /// The automation parameters, as templates.
    pub fn parameters(&self) -> &ParameterTemplate {
        &self.parameters
    }

    /// The automation parameters rendered for one release.
    pub fn render_parameters(&self, ctx: &TemplateContext<'_>) -> BTreeMap<String, String> {
        self.parameters.render(ctx)
    }

    /// The release URL template, if configured.
    pub fn release_url_template(&self) -> Option<&Template> {
        self.release_url.as_ref()
    }

    /// The release URL rendered for one release, if configured.
    pub fn release_url(&self, ctx: &TemplateContext<'_>) -> Option<String> {
        self.release_url.as_ref().map(|t| t.render(ctx))
    }

    /// The runbook link, if configured.
    pub fn runbook(&self) -> Option<&str> {
        self.runbook.as_deref()
    }
}
