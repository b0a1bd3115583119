//! `check`: the configuration, then AWS and Slack, each part reported on
//! its own line (`ok`, `FAIL`, `skip`, `warn`). A part that could not be
//! checked is a `skip`, and skips fail the check unless `--allow-skip`.

mod aws;
mod permissions;
mod slack;

use std::process::ExitCode;

use chatdeploy_core::Catalog;
use chatdeploy_slack::SlackIdentities;

use crate::args::Options;
use crate::error::BotError;
use crate::report;

/// What `check` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckSummary {
    /// Problems found (each printed as `FAIL`).
    pub problems: usize,
    /// Parts that could not be checked, with why (each printed as `skip`).
    pub skipped: Vec<String>,
}

impl CheckSummary {
    /// 0 when everything was checked and passed (or only skipped with
    /// `allow_skip`), 1 otherwise.
    #[must_use]
    pub fn exit_code(&self, allow_skip: bool) -> ExitCode {
        if self.passed(allow_skip) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Whether the check passed.
    #[must_use]
    pub fn passed(&self, allow_skip: bool) -> bool {
        self.problems == 0 && (allow_skip || self.skipped.is_empty())
    }

    pub(crate) fn ok(&mut self, text: &str) {
        report::line(&format!("ok    {text}"));
    }

    pub(crate) fn fail(&mut self, text: &str) {
        self.problems += 1;
        report::line(&format!("FAIL  {text}"));
    }

    pub(crate) fn skip(&mut self, part: &str, why: &str) {
        self.skipped.push(part.to_owned());
        report::line(&format!("skip  {part}: {why}"));
    }

    pub(crate) fn warn(&mut self, text: &str) {
        report::line(&format!("warn  {text}"));
    }

    fn verdict(&self, allow_skip: bool) -> String {
        let skipped = self.skipped.len();
        match (self.problems, skipped) {
            (0, 0) => "check passed".to_owned(),
            (0, n) if allow_skip => {
                format!(
                    "check passed with {n} part(s) not checked (--allow-skip): {}",
                    self.skipped.join(", ")
                )
            }
            (0, n) => format!(
                "check incomplete: {n} part(s) not checked ({}); fix what the skip lines say, or \
                 pass --allow-skip to accept an incomplete check",
                self.skipped.join(", ")
            ),
            (p, 0) => format!("check found {p} problem(s)"),
            (p, n) => format!("check found {p} problem(s); {n} part(s) not checked"),
        }
    }
}

/// Checks the configuration, AWS (credentials, documents, parameters,
/// pinned versions, approval steps, permissions) and Slack (bot token,
/// channels, the app token or signing secret), printing one line per part
/// on stdout and a verdict at the end.
///
/// # Errors
///
/// [`BotError::Catalog`] when the configuration cannot be loaded (nothing
/// else can be checked then).
pub async fn check(options: &Options) -> Result<CheckSummary, BotError> {
    let catalog = Catalog::load_with(&options.config, &SlackIdentities)?;
    let mut summary = CheckSummary::default();
    summary.ok(&format!(
        "configuration {} ({} services)",
        options.config.display(),
        catalog.services().count()
    ));
    aws::check(&catalog, &mut summary).await;
    slack::check(&catalog, options.listen.is_some(), &mut summary).await;
    report::line(&summary.verdict(options.allow_skip));
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_fails_the_check_unless_allowed() {
        let mut summary = CheckSummary::default();
        assert!(summary.passed(false));
        summary.skip("AWS", "no credentials");
        assert!(!summary.passed(false));
        assert!(summary.passed(true));
        assert!(summary.verdict(false).contains("--allow-skip"));
        summary.fail("something");
        assert!(!summary.passed(true));
    }
}
