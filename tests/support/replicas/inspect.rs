//! What the replicas did, read back from where it is recorded: the
//! `leases` and `audit` tables in PostgreSQL, the state store as the engine
//! sees it, the emulator's executions, and the fake Slack's calls.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatdeploy::core::audit::AuditAction;
use chatdeploy::core::ids::DeploymentId;
use chatdeploy::core::state::StateStore;
use chatdeploy::slack::fake::FakeMessage;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Cluster, LIMIT};

/// The lifecycle records a release with one approval writes, each once.
pub const LIFECYCLE: [AuditAction; 6] = [
    AuditAction::Requested,
    AuditAction::Started,
    AuditAction::ApprovalRequested,
    AuditAction::Approved,
    AuditAction::Signalled,
    AuditAction::Succeeded,
];

/// A release's lease as stored: its owner (`None` once given up) and fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub owner: Option<String>,
    pub fence: i64,
}

/// One case's line of the results table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// The stage the fault was aimed at, e.g. `waiting for approval`.
    pub stage: String,
    /// The fault, e.g. `SIGKILL owner`.
    pub fault: String,
    /// The release's stored stage when the fault hit.
    pub stored_stage: String,
    /// Executions in the emulator.
    pub executions: usize,
    /// Decisions at the approval step (approval signals that reached AWS).
    pub signals: usize,
    /// Lifecycle audit records beyond one per action.
    pub duplicates: usize,
    /// `resumed` audit records (one per takeover).
    pub resumed: usize,
    /// From the fault to another replica holding the lease.
    pub takeover: Option<Duration>,
    /// From the click's 200 to the `signalled` audit record, and whether
    /// the click reached a replica other than the owner.
    pub click_to_signal: Option<(Duration, bool)>,
    /// From the request's 200 to the release finished (summary posted,
    /// nothing in flight).
    pub completion: Duration,
}

/// Prints `rows` as a Markdown table (stderr), ready to paste into docs.
pub fn print_table(title: &str, rows: &[Row]) {
    let ms = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    let mut out = format!(
        "\n{title}\n\n| stage | fault | stored stage at the fault | executions | signals | \
         duplicate audit records | resumed | takeover | click → signal | completion |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let click = r.click_to_signal.map_or("-".to_owned(), |(d, other)| {
            let at = if other { "non-owner" } else { "owner" };
            format!("{} (at {at})", ms(d))
        });
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.stage,
            r.fault,
            r.stored_stage,
            r.executions,
            r.signals,
            r.duplicates,
            r.resumed,
            r.takeover.map_or("-".to_owned(), ms),
            click,
            ms(r.completion),
        ));
    }
    eprintln!("{out}");
}

impl Cluster {
    fn table(&self, name: &str) -> String {
        format!("\"{}\".{name}", self.schema)
    }

    /// The release's lease row, if it ever had one.
    pub async fn lease(&self, deployment: &DeploymentId) -> Option<LeaseRow> {
        let sql = format!(
            "SELECT owner, fence FROM {} WHERE deployment = $1",
            self.table("leases")
        );
        let row = self
            .db
            .query_opt(&sql, &[&deployment.as_str()])
            .await
            .unwrap()?;
        Some(LeaseRow {
            owner: row.get(0),
            fence: row.get(1),
        })
    }

    /// Waits until some replica holds the release's lease; its row.
    pub async fn wait_for_owner(&self, deployment: &DeploymentId) -> (String, i64) {
        let start = Instant::now();
        loop {
            if let Some(LeaseRow {
                owner: Some(owner),
                fence,
            }) = self.lease(deployment).await
            {
                return (owner, fence);
            }
            assert!(start.elapsed() < LIMIT, "nobody claimed {deployment}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until the lease passed on from fence `fence` (a higher fence:
    /// another claim); when it happened, and who holds it now, if anyone
    /// still does (the new owner may have finished and given it up).
    pub async fn wait_for_takeover(
        &self,
        deployment: &DeploymentId,
        fence: i64,
    ) -> (Instant, Option<String>) {
        let start = Instant::now();
        loop {
            if let Some(row) = self.lease(deployment).await
                && row.fence > fence
            {
                return (Instant::now(), row.owner);
            }
            assert!(
                start.elapsed() < LIMIT,
                "nobody took {deployment} over from fence {fence}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Audit records per action, as stored.
    pub async fn audit_counts(&self) -> BTreeMap<String, usize> {
        let sql = format!(
            "SELECT action, count(*) FROM {} GROUP BY action",
            self.table("audit")
        );
        let rows = self.db.query(&sql, &[]).await.unwrap();
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize))
            .collect()
    }

    /// How many audit records of `action` are stored.
    pub async fn audit_count(&self, action: AuditAction) -> usize {
        let counts = self.audit_counts().await;
        counts.get(action.as_str()).copied().unwrap_or(0)
    }

    /// Waits (polling every few ms) until an audit record of `action` is
    /// stored; when it was seen.
    pub async fn wait_for_audit(&self, action: AuditAction) -> Instant {
        let start = Instant::now();
        while self.audit_count(action).await == 0 {
            assert!(
                start.elapsed() < LIMIT,
                "no {action:?} audit record within {LIMIT:?}: {:?}",
                self.audit_counts().await
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        Instant::now()
    }

    /// The release's stored stage, as words.
    pub async fn stored_stage(&self, deployment: &DeploymentId) -> String {
        match self.store.deployment(deployment).await.unwrap() {
            Some(record) if record.finalized => format!("{} (finalized)", record.stage.as_str()),
            Some(record) => record.stage.as_str().to_owned(),
            None => "not stored".to_owned(),
        }
    }

    /// Waits until the approval request is posted and its message stored:
    /// the release waits for people. Returns the request's message ts.
    pub async fn wait_until_waiting(&self, deployment: &DeploymentId) -> String {
        let start = Instant::now();
        loop {
            let record = self.store.deployment(deployment).await.unwrap();
            let stored = record
                .as_ref()
                .and_then(|r| r.approval.as_ref())
                .and_then(|w| w.message.clone());
            if let Some(ts) = stored {
                return ts.to_string();
            }
            assert!(
                start.elapsed() < LIMIT,
                "no stored approval request: {record:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the release is finished: outcome audited, summary
    /// posted, the record finalized.
    pub async fn wait_until_finished(&self, deployment: &DeploymentId) -> Instant {
        let start = Instant::now();
        loop {
            let finalized = self
                .store
                .deployment(deployment)
                .await
                .unwrap()
                .is_some_and(|r| r.finalized);
            if finalized && self.summaries() > 0 {
                return Instant::now();
            }
            assert!(
                start.elapsed() < LIMIT * 2,
                "{deployment} did not finish: {} audit {:?}",
                self.stored_stage(deployment).await,
                self.audit_counts().await
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Summaries in the thread (messages saying how the release ended;
    /// a post Slack refused is no message).
    pub fn summaries(&self) -> usize {
        self.messages_where(|m| m.text.contains("succeeded in"))
    }

    /// Approval requests posted (posts with the Approve button; counted as
    /// calls, since a decided request is edited to drop its buttons, and
    /// no case makes Slack refuse one).
    pub fn approval_requests(&self) -> usize {
        self.slack
            .calls_to("chat.postMessage")
            .iter()
            .filter(|c| c.params.to_string().contains("chatdeploy_approve"))
            .count()
    }

    fn messages_where(&self, wanted: impl Fn(&FakeMessage) -> bool) -> usize {
        self.slack
            .messages()
            .iter()
            .filter(|m| m.ephemeral_to.is_none() && wanted(m))
            .count()
    }

    /// How many Web API calls the fake Slack has seen so far.
    pub fn slack_calls(&self) -> usize {
        self.slack.calls().len()
    }

    /// The messages `replica` posted or edited (in the channel or to one
    /// person) among the calls after the first `since`.
    pub fn writes_by(&self, replica: &str, since: usize) -> Vec<String> {
        let auth = format!("Bearer xoxb-{replica}");
        self.slack.calls()[since..]
            .iter()
            .filter(|c| c.auth.as_deref() == Some(auth.as_str()))
            .filter(|c| c.method.starts_with("chat."))
            .map(|c| format!("{} {}", c.method, c.params))
            .collect()
    }

    /// Calls the emulator with SSM's wire protocol.
    async fn ssm(&self, operation: &str, body: Value) -> Value {
        let body = body.to_string();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {0}\r\nContent-Type: application/x-amz-json-1.1\r\n\
             X-Amz-Target: AmazonSSM.{operation}\r\nContent-Length: {1}\r\nConnection: close\r\n\r\n{body}",
            self.emulator_addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&self.emulator_addr)
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (_, json) = response.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(json).unwrap_or(Value::Null)
    }

    /// The executions the emulator ran (DescribeAutomationExecutions).
    pub async fn executions(&self) -> Vec<Value> {
        let listed = self.ssm("DescribeAutomationExecutions", json!({})).await;
        listed["AutomationExecutionMetadataList"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// How many decisions the execution's approval step recorded.
    pub async fn decisions(&self, execution: &str) -> usize {
        let got = self
            .ssm(
                "GetAutomationExecution",
                json!({"AutomationExecutionId": execution}),
            )
            .await;
        got["AutomationExecution"]["StepExecutions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"] == "aws:approve")
            .map(|s| {
                s["Outputs"]["ApproverDecisions"]
                    .as_array()
                    .map_or(0, Vec::len)
            })
            .sum()
    }

    /// Checks that the one release completed exactly once, and fills the
    /// counts of `row`: one execution (succeeded), one approval signal,
    /// each lifecycle audit record once, one summary, the lock released,
    /// nothing in flight.
    pub async fn assert_completed_once(&self, row: &mut Row) {
        let executions = self.executions().await;
        row.executions = executions.len();
        assert_eq!(executions.len(), 1, "one execution: {executions:?}");
        assert_eq!(executions[0]["AutomationExecutionStatus"], "Success");
        let id = executions[0]["AutomationExecutionId"].as_str().unwrap();
        row.signals = self.decisions(id).await;
        let counts = self.audit_counts().await;
        let count = |a: AuditAction| counts.get(a.as_str()).copied().unwrap_or(0);
        row.duplicates = LIFECYCLE.iter().map(|a| count(*a).saturating_sub(1)).sum();
        row.resumed = count(AuditAction::Resumed);
        eprintln!("{}: audit records by action: {counts:?}", self.test);
        assert_eq!(row.signals, 1, "one approval signal reached AWS");
        for action in LIFECYCLE {
            assert_eq!(count(action), 1, "{action:?} once in {counts:?}");
        }
        assert_eq!(self.summaries(), 1, "one summary in the thread");
        assert!(
            self.store.lock("app").await.unwrap().is_none(),
            "the lock is released"
        );
        let in_flight = self.store.in_flight().await.unwrap();
        assert!(in_flight.is_empty(), "nothing in flight: {in_flight:?}");
    }
}
