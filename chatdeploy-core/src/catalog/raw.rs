//! serde structs mirroring the TOML file, with spans for error positions.
//!
//! Everything here is checked and turned into the public types by
//! [`validate`](super::validate).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ApprovalMode;

/// A string with its byte range in the file.
pub(super) type SpannedString = Spanned<String>;
/// A list of strings, each with its byte range, and the list's own range.
pub(super) type SpannedList = Spanned<Vec<SpannedString>>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    pub(super) chat: RawChat,
    #[serde(default)]
    pub(super) roles: RawRoles,
    #[serde(default)]
    pub(super) approval: RawApproval,
    pub(super) services: Option<Spanned<BTreeMap<SpannedString, RawService>>>,
}

/// `[chat]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChat {
    pub(super) deploy_channels: SpannedList,
}

/// `[roles]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoles {
    pub(super) deployers: Option<SpannedList>,
    pub(super) approvers: Option<SpannedList>,
}

/// `[approval]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApproval {
    pub(super) min_approvals: Option<Spanned<i64>>,
    pub(super) allow_self_approval: Option<bool>,
    pub(super) timeout: Option<SpannedString>,
}

/// `[services.<name>]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    #[serde(default)]
    pub(super) aliases: Vec<SpannedString>,
    pub(super) description: Option<String>,
    pub(super) version_pattern: SpannedString,
    pub(super) version_example: Option<SpannedString>,
    pub(super) document: SpannedString,
    pub(super) document_version: Option<SpannedString>,
    pub(super) approval: Option<Spanned<ApprovalMode>>,
    pub(super) approvers: Option<SpannedList>,
    pub(super) deployers: Option<SpannedList>,
    pub(super) min_approvals: Option<Spanned<i64>>,
    pub(super) environments: Option<SpannedList>,
    #[serde(default)]
    pub(super) parameters: BTreeMap<SpannedString, SpannedString>,
    pub(super) release_url: Option<SpannedString>,
    pub(super) runbook: Option<String>,
}
