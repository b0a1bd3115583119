//! The metrics chatdeploy records, in one place: their names, their labels
//! and the rules that keep label values bounded.
//!
//! Everything is recorded through the [`metrics`] facade, which (like
//! `tracing`) does no I/O: nothing is kept or exported until a program
//! installs a recorder. The `chatdeploy` binary installs the Prometheus
//! exporter when it is given `--admin ADDR` and serves the scrape on
//! `/metrics`; without a recorder every call here costs a load of the
//! global recorder and nothing more.
//!
//! # Label values are bounded
//!
//! A label value never comes from what someone typed or from what a remote
//! service answered. Each one is either a fixed word of this module (an
//! enum's [`as_str`](Transport::as_str), an outcome, an error kind), the
//! name of a code path (`&'static str`: an API method, an SSM operation),
//! or a name from the catalog: a service's canonical name and one of its
//! configured environments. A release whose service or environment is no
//! longer in the catalog (the configuration changed while it ran) is
//! labelled [`OTHER`]. So the number of series is fixed by the code and the
//! configuration, whatever the traffic.
//!
//! # Names
//!
//! `chatdeploy_` then the part (`slack_`, `aws_`, none for the engine),
//! then what is counted, in base units: counters end in `_total`, durations
//! in `_seconds` (Prometheus's naming rules, which `promtool check metrics`
//! enforces in CI). New metrics join their part's prefix, e.g. an outbound
//! Slack scheduler's queue depth as `chatdeploy_slack_queue_depth` next to
//! [`SLACK_API_RATE_LIMITED`].

use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::backend::BackendError;
use crate::catalog::Catalog;
use crate::chat::ChatError;
use crate::state::{DeploymentRecord, Stage, WaitEnd};

/// Releases finished, by `service`, `environment` and `outcome`
/// ([`outcome_label`]).
pub const RELEASES: &str = "chatdeploy_releases_total";
/// How long finished releases took, from the request to the end, by
/// `service`, `environment` and `outcome`.
pub const RELEASE_DURATION: &str = "chatdeploy_release_duration_seconds";
/// How long approval waits lasted, from the request for approval to its
/// end, by `service`, `environment` and `decision` ([`wait_end_label`]).
pub const APPROVAL_WAIT: &str = "chatdeploy_approval_wait_seconds";
/// Releases this process is driving now (requested and not finished), by
/// `service`. With several replicas, sum over them.
pub const RELEASES_IN_FLIGHT: &str = "chatdeploy_releases_in_flight";
/// Inbound events dropped as repeats, by `layer`: `listener` (Socket
/// Mode's memory of recent envelopes) or `state_store` (the event IDs the
/// engine records).
pub const EVENTS_DEDUPLICATED: &str = "chatdeploy_events_deduplicated_total";

/// Events the Slack listeners received, by `transport` and `kind`.
pub const SLACK_EVENTS_RECEIVED: &str = "chatdeploy_slack_events_received_total";
/// Slack deliveries the listeners refused (did not hand to the engine), by
/// `transport` and `reason` ([`Refusal`]); on the Events API,
/// `backlog_full` is a 503 that Slack redelivers.
pub const SLACK_EVENTS_REFUSED: &str = "chatdeploy_slack_events_refused_total";
/// Times an event found the engine's backlog full, by `transport`: the
/// Events API refuses it (or makes a click wait), Socket Mode waits before
/// it acks.
pub const SLACK_BACKLOG_FULL: &str = "chatdeploy_slack_backlog_full_total";
/// 1 while the Socket Mode websocket is up (after Slack's `hello`), else 0.
pub const SLACK_SOCKET_MODE_CONNECTED: &str = "chatdeploy_slack_socket_mode_connected";
/// Socket Mode websockets opened (the first and every reconnect).
pub const SLACK_SOCKET_MODE_CONNECTIONS: &str = "chatdeploy_slack_socket_mode_connections_total";
/// Slack Web API calls made, by `method` (e.g. `chat.postMessage`); a
/// call retried after a rate limit counts once.
pub const SLACK_API_CALLS: &str = "chatdeploy_slack_api_calls_total";
/// Slack Web API calls that failed, by `method` and `kind`
/// ([`chat_error_kind`], or `auth` for a refused token).
pub const SLACK_API_ERRORS: &str = "chatdeploy_slack_api_errors_total";
/// Slack's rate-limit answers (HTTP 429), by `method`, whether or not the
/// call then succeeded on a retry.
pub const SLACK_API_RATE_LIMITED: &str = "chatdeploy_slack_api_rate_limited_total";

/// AWS API calls made, by `service` (`ssm`, `sts`) and `operation` (e.g.
/// `GetAutomationExecution`).
pub const AWS_API_CALLS: &str = "chatdeploy_aws_api_calls_total";
/// AWS API calls that failed, by `service`, `operation` and `kind`
/// ([`backend_error_kind`]).
pub const AWS_API_ERRORS: &str = "chatdeploy_aws_api_errors_total";

/// 1, labelled with the running `version`.
pub const BUILD_INFO: &str = "chatdeploy_build_info";

/// The label value of a service or environment the catalog does not know.
pub const OTHER: &str = "other";
/// The environment label of a release recorded without one.
pub const DEFAULT_ENVIRONMENT: &str = "default";

/// Histogram buckets for [`APPROVAL_WAIT`], in seconds: people answer in
/// minutes to hours (30 s … 24 h).
pub const APPROVAL_WAIT_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];
/// Histogram buckets for [`RELEASE_DURATION`], in seconds (10 s … 24 h): an
/// automation runs for minutes, an approval can add hours.
pub const RELEASE_DURATION_BUCKETS: &[f64] = &[
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// The Slack transport an event came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Socket Mode (a websocket the bot opens).
    SocketMode,
    /// The Events API (HTTP requests Slack sends).
    EventsApi,
}

impl Transport {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SocketMode => "socket_mode",
            Self::EventsApi => "events_api",
        }
    }
}

/// What kind of delivery an event was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// An Events API callback (a mention, a message).
    Event,
    /// An interaction (a button click).
    Interaction,
    /// A slash command.
    Command,
    /// Anything else Slack sends (counted, not handled).
    Other,
}

impl EventKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Interaction => "interaction",
            Self::Command => "command",
            Self::Other => OTHER,
        }
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The engine's backlog was full (503).
    BacklogFull,
    /// The signature did not verify (401).
    BadSignature,
    /// A signed payload could not be read (400).
    Malformed,
    /// The body was over the size limit (413).
    TooLarge,
    /// The body did not arrive in time (408).
    Timeout,
}

impl Refusal {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BacklogFull => "backlog_full",
            Self::BadSignature => "bad_signature",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
        }
    }
}

/// Which part dropped a repeated event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DedupeLayer {
    /// The listener's memory of recent deliveries (Socket Mode).
    Listener,
    /// The event IDs the engine records in its state store.
    StateStore,
}

impl DedupeLayer {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::StateStore => "state_store",
        }
    }
}

/// The AWS service of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsService {
    /// Systems Manager.
    Ssm,
    /// Security Token Service (`GetCallerIdentity`).
    Sts,
}

impl AwsService {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssm => "ssm",
            Self::Sts => "sts",
        }
    }
}

/// Describes every metric (help text and unit) to the installed recorder;
/// call it once, after installing one, so that the scrape says what each
/// metric means.
pub fn describe() {
    describe_counter!(RELEASES, Unit::Count, "Releases finished, by outcome.");
    describe_histogram!(
        RELEASE_DURATION,
        Unit::Seconds,
        "How long finished releases took, from the request to the end."
    );
    describe_histogram!(
        APPROVAL_WAIT,
        Unit::Seconds,
        "How long approval waits lasted, from the request for approval to the decision or end."
    );
    describe_gauge!(
        RELEASES_IN_FLIGHT,
        Unit::Count,
        "Releases this process is driving now (requested, not finished)."
    );
    describe_counter!(
        EVENTS_DEDUPLICATED,
        Unit::Count,
        "Inbound events dropped as repeats of events already handled."
    );
    describe_counter!(
        SLACK_EVENTS_RECEIVED,
        Unit::Count,
        "Events received from Slack."
    );
    describe_counter!(
        SLACK_EVENTS_REFUSED,
        Unit::Count,
        "Slack deliveries the listeners refused (not handed to the engine)."
    );
    describe_counter!(
        SLACK_BACKLOG_FULL,
        Unit::Count,
        "Times an event found the engine's backlog full."
    );
    describe_gauge!(
        SLACK_SOCKET_MODE_CONNECTED,
        Unit::Count,
        "1 while the Socket Mode websocket is up, else 0."
    );
    describe_counter!(
        SLACK_SOCKET_MODE_CONNECTIONS,
        Unit::Count,
        "Socket Mode websockets opened, the first and every reconnect."
    );
    describe_counter!(SLACK_API_CALLS, Unit::Count, "Slack Web API calls made.");
    describe_counter!(
        SLACK_API_ERRORS,
        Unit::Count,
        "Slack Web API calls that failed, by kind of failure."
    );
    describe_counter!(
        SLACK_API_RATE_LIMITED,
        Unit::Count,
        "Rate-limit answers (HTTP 429) from the Slack Web API."
    );
    describe_counter!(AWS_API_CALLS, Unit::Count, "AWS API calls made.");
    describe_counter!(
        AWS_API_ERRORS,
        Unit::Count,
        "AWS API calls that failed, by kind of failure."
    );
    describe_gauge!(
        BUILD_INFO,
        Unit::Count,
        "Always 1, labelled with the running chatdeploy version."
    );
}

/// Sets [`BUILD_INFO`] for `version` (a program's `CARGO_PKG_VERSION`).
pub fn build_info(version: &'static str) {
    gauge!(BUILD_INFO, "version" => version).set(1.0);
}

/// The `service` label of a release of `service`: its canonical name in
/// `catalog` (an alias counts as its service), or [`OTHER`].
pub fn service_label(catalog: &Catalog, service: &str) -> String {
    catalog
        .service(service)
        .map_or_else(|_| OTHER.to_owned(), |s| s.name().to_owned())
}

/// The `environment` label of a release of `service` to `environment`:
/// [`DEFAULT_ENVIRONMENT`] when the release has none, the environment when
/// the service lists it, else [`OTHER`].
pub fn environment_label(catalog: &Catalog, service: &str, environment: &str) -> String {
    if environment.is_empty() {
        return DEFAULT_ENVIRONMENT.to_owned();
    }
    match catalog.service(service) {
        Ok(s) if s.environments().iter().any(|e| e == environment) => environment.to_owned(),
        _ => OTHER.to_owned(),
    }
}

/// The `outcome` label of a finished release: `succeeded`, `failed`,
/// `rejected`, `cancelled` or `timed_out` (`unfinished` for a stage that is
/// not an end).
pub fn outcome_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Succeeded => "succeeded",
        Stage::Failed => "failed",
        Stage::Rejected => "rejected",
        Stage::Cancelled => "cancelled",
        Stage::TimedOut => "timed_out",
        _ => "unfinished",
    }
}

/// The `decision` label of an approval wait that ended: `approved`,
/// `rejected`, `timed_out`, `cancelled` or `failed`.
pub fn wait_end_label(end: &WaitEnd) -> &'static str {
    match end {
        WaitEnd::Approved { .. } => "approved",
        WaitEnd::Rejected { .. } => "rejected",
        WaitEnd::TimedOut { .. } => "timed_out",
        WaitEnd::Cancelled { .. } => "cancelled",
        _ => "failed",
    }
}

/// The `kind` label of a chat error.
pub fn chat_error_kind(error: &ChatError) -> &'static str {
    match error {
        ChatError::RateLimited { .. } => "rate_limited",
        ChatError::NotInChannel { .. } => "not_in_channel",
        ChatError::ChannelNotFound { .. } => "channel_not_found",
        ChatError::MessageNotFound { .. } => "message_not_found",
        ChatError::Refused { .. } => "refused",
        ChatError::Transport { .. } => "transport",
    }
}

/// The `kind` label of a backend error.
pub fn backend_error_kind(error: &BackendError) -> &'static str {
    match error {
        BackendError::Throttled { .. } => "throttled",
        BackendError::NotFound { .. } => "not_found",
        BackendError::InvalidParameters { .. } => "invalid_parameters",
        BackendError::IdempotencyMismatch { .. } => "idempotency_mismatch",
        BackendError::InvalidState { .. } => "invalid_state",
        BackendError::SignalRefused { .. } => "signal_refused",
        BackendError::Credentials { .. } => "credentials",
        BackendError::AccessDenied { .. } => "access_denied",
        BackendError::Unavailable { .. } => "unavailable",
        _ => OTHER,
    }
}

/// Counts an event a Slack listener received.
pub fn event_received(transport: Transport, kind: EventKind) {
    counter!(SLACK_EVENTS_RECEIVED, "transport" => transport.as_str(), "kind" => kind.as_str())
        .increment(1);
}

/// Counts a delivery refused.
pub fn event_refused(transport: Transport, reason: Refusal) {
    counter!(SLACK_EVENTS_REFUSED, "transport" => transport.as_str(), "reason" => reason.as_str())
        .increment(1);
}

/// Counts an event that found the engine's backlog full.
pub fn backlog_full(transport: Transport) {
    counter!(SLACK_BACKLOG_FULL, "transport" => transport.as_str()).increment(1);
}

/// Counts a repeated event dropped.
pub fn event_deduplicated(layer: DedupeLayer) {
    counter!(EVENTS_DEDUPLICATED, "layer" => layer.as_str()).increment(1);
}

/// Records whether the Socket Mode websocket is up; counts a connection
/// when it comes up.
pub fn socket_mode_connected(up: bool) {
    gauge!(SLACK_SOCKET_MODE_CONNECTED).set(if up { 1.0 } else { 0.0 });
    if up {
        counter!(SLACK_SOCKET_MODE_CONNECTIONS).increment(1);
    }
}

/// Counts a Slack Web API call of `method` (a name in the code, e.g.
/// `chat.postMessage`).
pub fn slack_api_call(method: &'static str) {
    counter!(SLACK_API_CALLS, "method" => method).increment(1);
}

/// Counts a failed Slack Web API call, by `kind` (see [`chat_error_kind`]).
pub fn slack_api_error(method: &'static str, kind: &'static str) {
    counter!(SLACK_API_ERRORS, "method" => method, "kind" => kind).increment(1);
}

/// Counts a rate-limit answer to a Slack Web API call.
pub fn slack_api_rate_limited(method: &'static str) {
    counter!(SLACK_API_RATE_LIMITED, "method" => method).increment(1);
}

/// Counts an AWS API call.
pub fn aws_api_call(service: AwsService, operation: &'static str) {
    counter!(AWS_API_CALLS, "service" => service.as_str(), "operation" => operation).increment(1);
}

/// Counts a failed AWS API call, by the kind of `error`.
pub fn aws_api_error(service: AwsService, operation: &'static str, error: &BackendError) {
    counter!(
        AWS_API_ERRORS,
        "service" => service.as_str(),
        "operation" => operation,
        "kind" => backend_error_kind(error)
    )
    .increment(1);
}

/// Records a finished release: [`RELEASES`] and [`RELEASE_DURATION`].
pub(crate) fn release_finished(catalog: &Catalog, record: &DeploymentRecord) {
    let labels = [
        ("service", service_label(catalog, &record.service)),
        (
            "environment",
            environment_label(catalog, &record.service, &record.environment),
        ),
        ("outcome", outcome_label(record.stage).to_owned()),
    ];
    counter!(RELEASES, &labels).increment(1);
    if let Some(ended) = record.ended_at {
        histogram_seconds(RELEASE_DURATION, &labels, ended - record.requested_at);
    }
}

/// Records an approval wait of `record` that ended at `now` with `end`.
pub(crate) fn approval_wait_ended(
    catalog: &Catalog,
    record: &DeploymentRecord,
    requested_at: chrono::DateTime<chrono::Utc>,
    end: &WaitEnd,
    now: chrono::DateTime<chrono::Utc>,
) {
    let labels = [
        ("service", service_label(catalog, &record.service)),
        (
            "environment",
            environment_label(catalog, &record.service, &record.environment),
        ),
        ("decision", wait_end_label(end).to_owned()),
    ];
    histogram_seconds(APPROVAL_WAIT, &labels, now - requested_at);
}

fn histogram_seconds(
    name: &'static str,
    labels: &[(&'static str, String)],
    took: chrono::TimeDelta,
) {
    // A clock that went backwards records zero, not a negative duration.
    let seconds = took.to_std().unwrap_or(Duration::ZERO).as_secs_f64();
    metrics::histogram!(name, labels).record(seconds);
}

/// Counts a release in [`RELEASES_IN_FLIGHT`] while it lives.
#[derive(Debug)]
pub(crate) struct InFlight {
    service: String,
}

impl InFlight {
    /// Counts one release of `service` (already a label, see
    /// [`service_label`]) until dropped.
    pub(crate) fn new(service: String) -> Self {
        gauge!(RELEASES_IN_FLIGHT, "service" => service.clone()).increment(1.0);
        Self { service }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(RELEASES_IN_FLIGHT, "service" => self.service.clone()).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"
[chat]
deploy_channels = ["C0DEPLOY"]
[roles]
deployers = ["U0ALICE"]
approvers = ["U0BOB"]
[services.app]
aliases = ["application"]
version_pattern = '^r-\d+$'
document = "Deploy-App"
environments = ["production", "staging"]
parameters = { ReleaseVersion = "{version}" }
"#;

    fn catalog() -> Catalog {
        Catalog::from_toml_str(CATALOG, "metrics.toml").unwrap()
    }

    #[test]
    fn services_outside_the_catalog_are_other() {
        let catalog = catalog();
        assert_eq!(service_label(&catalog, "app"), "app");
        assert_eq!(service_label(&catalog, "application"), "app", "an alias");
        assert_eq!(service_label(&catalog, "APP"), "app");
        for typed in ["ap", "gone", "app\"} 1\n# evil", ""] {
            assert_eq!(service_label(&catalog, typed), OTHER, "{typed:?}");
        }
    }

    #[test]
    fn environments_are_the_services_own_or_default_or_other() {
        let catalog = catalog();
        assert_eq!(environment_label(&catalog, "app", "staging"), "staging");
        assert_eq!(
            environment_label(&catalog, "app", "production"),
            "production"
        );
        assert_eq!(environment_label(&catalog, "app", ""), DEFAULT_ENVIRONMENT);
        assert_eq!(environment_label(&catalog, "app", "qa"), OTHER);
        assert_eq!(environment_label(&catalog, "gone", "staging"), OTHER);
    }

    #[test]
    fn outcomes_and_decisions_are_fixed_words() {
        assert_eq!(outcome_label(Stage::Succeeded), "succeeded");
        assert_eq!(outcome_label(Stage::TimedOut), "timed_out");
        assert_eq!(outcome_label(Stage::Running), "unfinished");
        let rejected = WaitEnd::Rejected {
            by: crate::state::Actor::Backend("arn:aws:iam::1:user/x".into()),
            reason: Some("free text".into()),
        };
        assert_eq!(wait_end_label(&rejected), "rejected");
        assert_eq!(
            wait_end_label(&WaitEnd::Failed {
                message: Some("boom".into())
            }),
            "failed"
        );
    }

    #[test]
    fn error_kinds_ignore_the_remote_text() {
        let refused = ChatError::Refused {
            operation: "chat.postMessage".into(),
            code: "some_new_code".into(),
        };
        assert_eq!(chat_error_kind(&refused), "refused");
        let other = BackendError::Other {
            operation: "GetDocument".into(),
            message: "anything at all".into(),
        };
        assert_eq!(backend_error_kind(&other), OTHER);
        let throttled = BackendError::Throttled {
            operation: "x".into(),
            retry_after: None,
        };
        assert_eq!(backend_error_kind(&throttled), "throttled");
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let counters = [
            RELEASES,
            EVENTS_DEDUPLICATED,
            SLACK_EVENTS_RECEIVED,
            SLACK_EVENTS_REFUSED,
            SLACK_BACKLOG_FULL,
            SLACK_SOCKET_MODE_CONNECTIONS,
            SLACK_API_CALLS,
            SLACK_API_ERRORS,
            SLACK_API_RATE_LIMITED,
            AWS_API_CALLS,
            AWS_API_ERRORS,
        ];
        for name in counters {
            assert!(
                name.starts_with("chatdeploy_") && name.ends_with("_total"),
                "{name}"
            );
        }
        for name in [RELEASE_DURATION, APPROVAL_WAIT] {
            assert!(name.ends_with("_seconds"), "{name}");
        }
        for name in [RELEASES_IN_FLIGHT, SLACK_SOCKET_MODE_CONNECTED, BUILD_INFO] {
            assert!(!name.ends_with("_total"), "{name}");
        }
        for buckets in [APPROVAL_WAIT_BUCKETS, RELEASE_DURATION_BUCKETS] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "ascending");
        }
    }
}
