//! A scripted deploy backend on tokio's clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::time::Instant;

use crate::backend::{
    ApprovalDecisionRecord, ApprovalGate, ApprovalStep, ApprovalWait, BackendError, DeployBackend,
    DocumentDescription, DocumentParameter, ExecutionSnapshot, ExecutionStatus, Signal,
    StartRequest, StepSnapshot, StepStatus, WaitOutcome,
};
use crate::ids::ExecutionId;

/// The identity the scripted backend signals as.
pub const SCRIPTED_BOT_ARN: &str = "arn:aws:iam::123456789012:role/chatdeploy";

/// One step of a scripted execution.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeStep {
    /// Runs for the duration, then succeeds.
    Run(&'static str, Duration),
    /// Waits for an approval signal (`aws:approve`).
    Approve(&'static str),
    /// An approval step the document declares but the execution skips (as
    /// a branch would): it never waits.
    SkippedApprove(&'static str),
    /// Runs for the duration, then fails with the message.
    Fail(&'static str, Duration, &'static str),
}

impl FakeStep {
    fn name(&self) -> &'static str {
        match self {
            Self::Run(name, _)
            | Self::Approve(name)
            | Self::SkippedApprove(name)
            | Self::Fail(name, _, _) => name,
        }
    }

    fn is_approval(&self) -> bool {
        matches!(self, Self::Approve(_) | Self::SkippedApprove(_))
    }
}

/// A call made to a [`ScriptedBackend`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendCall {
    /// `start`, with the request.
    Start(Box<StartRequest>),
    /// `snapshot`.
    Snapshot(ExecutionId),
    /// `signal`, with the comment.
    Signal(ExecutionId, Signal, String),
    /// `cancel`.
    Cancel(ExecutionId),
    /// `describe`.
    Describe(String),
}

#[derive(Debug)]
struct Execution {
    steps: Vec<FakeStep>,
    /// Index of the current step; `steps.len()` when all are done.
    current: usize,
    step_started: Instant,
    status: ExecutionStatus,
    step_status: Vec<StepStatus>,
    failure: Option<String>,
    decisions: Vec<Option<ApprovalDecisionRecord>>,
    approval_timeout: Option<Duration>,
    status_override: Option<ExecutionStatus>,
    request: StartRequest,
}

impl Execution {
    /// Moves the execution forward to the present.
    fn advance(&mut self, now: Instant) {
        while !self.status.is_terminal() && self.current < self.steps.len() {
            let i = self.current;
            match self.steps[i].clone() {
                FakeStep::Run(_, duration) | FakeStep::Fail(_, duration, _) => {
                    self.step_status[i] = StepStatus::Running;
                    self.status = ExecutionStatus::Running;
                    let ends = self.step_started + duration;
                    if now < ends {
                        return;
                    }
                    if let FakeStep::Fail(_, _, message) = self.steps[i] {
                        self.step_status[i] = StepStatus::Failed;
                        self.status = ExecutionStatus::Failed;
                        self.failure = Some(message.to_owned());
                        return;
                    }
                    self.step_status[i] = StepStatus::Succeeded;
                    self.current += 1;
                    self.step_started = ends;
                }
                FakeStep::SkippedApprove(_) => {
                    self.step_status[i] = StepStatus::Skipped;
                    self.current += 1;
                }
                FakeStep::Approve(_) => match &self.decisions[i] {
                    None => {
                        if let Some(timeout) = self.approval_timeout
                            && now >= self.step_started + timeout
                        {
                            self.step_status[i] = StepStatus::TimedOut;
                            self.status = ExecutionStatus::TimedOut;
                            self.failure =
                                Some("Step timed out while step is verifying approvals".into());
                            return;
                        }
                        self.step_status[i] = StepStatus::Waiting;
                        self.status = ExecutionStatus::Waiting;
                        return;
                    }
                    Some(decision) if decision.decision == Signal::Approve => {
                        self.step_status[i] = StepStatus::Succeeded;
                        self.current += 1;
                        self.step_started = now;
                    }
                    Some(_) => {
                        self.step_status[i] = StepStatus::Failed;
                        self.status = ExecutionStatus::Failed;
                        self.failure = Some("Step was rejected".to_owned());
                        return;
                    }
                },
            }
        }
        if !self.status.is_terminal() {
            self.status = ExecutionStatus::Succeeded;
        }
    }

    /// How approval step `i` ended, as SSM reports it.
    fn outcome(&self, i: usize) -> Option<WaitOutcome> {
        let decision = self.decisions[i].clone();
        match (&self.step_status[i], decision) {
            (StepStatus::Succeeded, decision) => Some(WaitOutcome::Approved {
                decisions: decision.into_iter().collect(),
            }),
            (StepStatus::Failed, Some(decision)) if decision.decision == Signal::Reject => {
                Some(WaitOutcome::Rejected { decision })
            }
            (StepStatus::Failed, _) => Some(WaitOutcome::Failed {
                message: self.failure.clone(),
            }),
            (StepStatus::TimedOut, _) => Some(WaitOutcome::TimedOut),
            (StepStatus::Cancelled, _) => Some(WaitOutcome::Cancelled),
            _ => None,
        }
    }

    /// Stops the execution; `false` when it has already ended.
    fn stop(&mut self) -> bool {
        if self.status.is_terminal() {
            return false;
        }
        self.status = ExecutionStatus::Cancelled;
        if let Some(status) = self.step_status.get_mut(self.current) {
            *status = StepStatus::Cancelled;
        }
        true
    }

    fn snapshot(&self) -> ExecutionSnapshot {
        let steps: Vec<StepSnapshot> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let action = if step.is_approval() {
                    "aws:approve"
                } else {
                    "aws:executeScript"
                };
                let status = self.step_status[i].clone();
                let mut snapshot = StepSnapshot::new(step.name(), action, status.clone());
                snapshot.failure_message = match (step, &status) {
                    (FakeStep::Fail(_, _, message), StepStatus::Failed) => {
                        Some((*message).to_owned())
                    }
                    (FakeStep::Approve(_), StepStatus::Failed) => match &self.decisions[i] {
                        Some(d) if d.decision == Signal::Reject => {
                            Some("Step was rejected".to_owned())
                        }
                        _ => self.failure.clone(),
                    },
                    _ => None,
                };
                snapshot.decisions = self.decisions[i].iter().cloned().collect();
                snapshot.is_approval = step.is_approval();
                snapshot.outcome = step.is_approval().then(|| self.outcome(i)).flatten();
                snapshot
            })
            .collect();
        let waiting_for_approval = (self.status == ExecutionStatus::Waiting)
            .then(|| self.steps.get(self.current))
            .flatten()
            .map(|step| ApprovalWait {
                step: step.name().to_owned(),
                message: None,
                min_approvals: Some(1),
            });
        ExecutionSnapshot {
            status: self
                .status_override
                .clone()
                .unwrap_or_else(|| self.status.clone()),
            steps,
            waiting_for_approval,
            failure_message: self.failure.clone(),
            outputs: BTreeMap::new(),
            started_at: None,
            ended_at: None,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    scripts: HashMap<String, Vec<FakeStep>>,
    executions: BTreeMap<ExecutionId, Execution>,
    tokens: HashMap<uuid::Uuid, ExecutionId>,
    calls: Vec<BackendCall>,
    throttle_next: usize,
    refuse_start: Option<String>,
    bot_is_approver: bool,
    approval_timeout: Option<Duration>,
    unreadable: Option<String>,
}

/// A [`DeployBackend`] that runs each document's scripted steps on tokio's
/// clock (so tests drive it with `tokio::time::pause`), honours idempotency
/// tokens as SSM does, reports approval outcomes as SSM does, refuses
/// signals from a bot that is not an approver, and records every call.
#[derive(Debug)]
pub struct ScriptedBackend {
    inner: Mutex<Inner>,
}

impl Default for ScriptedBackend {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                bot_is_approver: true,
                ..Inner::default()
            }),
        }
    }
}

impl ScriptedBackend {
    /// A backend with no documents.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the bot is among the approval steps' approvers (default
    /// yes); when not, its signals are refused as SSM refuses them, and
    /// the approval gate says so.
    pub fn set_bot_is_approver(&self, approver: bool) {
        self.lock().bot_is_approver = approver;
    }

    /// Approval steps of executions started from now on time out after
    /// `timeout` without a decision, as an `aws:approve` step's
    /// `timeoutSeconds` does.
    pub fn set_approval_timeout(&self, timeout: Duration) {
        self.lock().approval_timeout = Some(timeout);
    }

    /// Reads of executions fail with an access denial until set to `None`.
    pub fn set_unreadable(&self, denial: Option<&str>) {
        self.lock().unreadable = denial.map(str::to_owned);
    }

    /// Fails `execution` with `message` at its current step, as a failure
    /// outside the bot's control would (e.g. during an approval wait).
    pub fn fail_outside(&self, execution: &ExecutionId, message: &str) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(execution) else {
            return false;
        };
        exec.advance(now);
        if exec.status.is_terminal() {
            return false;
        }
        if let Some(status) = exec.step_status.get_mut(exec.current) {
            *status = StepStatus::Failed;
        }
        exec.status = ExecutionStatus::Failed;
        exec.failure = Some(message.to_owned());
        true
    }

    /// Makes snapshots of `execution` report `status` instead of its own
    /// (e.g. a status chatdeploy does not know); `None` undoes it.
    pub fn override_status(&self, execution: &ExecutionId, status: Option<ExecutionStatus>) {
        let mut inner = self.lock();
        if let Some(exec) = inner.executions.get_mut(execution) {
            exec.status_override = status;
        }
    }

    /// Stops `execution` as someone in the AWS console would.
    pub fn stop_outside(&self, execution: &ExecutionId) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(execution) else {
            return false;
        };
        exec.advance(now);
        exec.stop()
    }

    /// Declares the steps a document runs.
    #[must_use]
    pub fn with_document(self, document: &str, steps: Vec<FakeStep>) -> Self {
        self.lock().scripts.insert(document.to_owned(), steps);
        self
    }

    /// Makes the next `n` calls fail with [`BackendError::Throttled`].
    pub fn throttle_next(&self, n: usize) {
        self.lock().throttle_next = n;
    }

    /// Makes every start fail with [`BackendError::InvalidParameters`].
    pub fn refuse_starts(&self, message: &str) {
        self.lock().refuse_start = Some(message.to_owned());
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<BackendCall> {
        self.lock().calls.clone()
    }

    /// How many executions were created (not start calls).
    pub fn executions(&self) -> usize {
        self.lock().executions.len()
    }

    /// The signals sent, in order.
    pub fn signals(&self) -> Vec<(ExecutionId, Signal)> {
        self.lock()
            .calls
            .iter()
            .filter_map(|c| match c {
                BackendCall::Signal(id, signal, _) => Some((id.clone(), *signal)),
                _ => None,
            })
            .collect()
    }

    /// How many calls of each kind: (start, snapshot, signal, cancel).
    pub fn call_counts(&self) -> (usize, usize, usize, usize) {
        let calls = &self.lock().calls;
        let count = |f: fn(&BackendCall) -> bool| calls.iter().filter(|c| f(c)).count();
        (
            count(|c| matches!(c, BackendCall::Start(_))),
            count(|c| matches!(c, BackendCall::Snapshot(_))),
            count(|c| matches!(c, BackendCall::Signal(..))),
            count(|c| matches!(c, BackendCall::Cancel(_))),
        )
    }

    /// The start request of an execution.
    pub fn request(&self, execution: &ExecutionId) -> Option<StartRequest> {
        self.lock()
            .executions
            .get(execution)
            .map(|e| e.request.clone())
    }

    /// Decides the waiting approval step of `execution` as someone in the
    /// AWS console would, without the bot.
    pub fn decide_outside(
        &self,
        execution: &ExecutionId,
        approver: &str,
        decision: Signal,
    ) -> bool {
        self.decide_outside_with(execution, approver, decision, None)
    }

    /// Like [`ScriptedBackend::decide_outside`], with a comment.
    pub fn decide_outside_with(
        &self,
        execution: &ExecutionId,
        approver: &str,
        decision: Signal,
        comment: Option<&str>,
    ) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(exec) = inner.executions.get_mut(execution) else {
            return false;
        };
        exec.advance(now);
        if exec.status != ExecutionStatus::Waiting {
            return false;
        }
        exec.decisions[exec.current] = Some(ApprovalDecisionRecord {
            approver: approver.to_owned(),
            decision,
            at: Some(Utc::now()),
            comment: comment.map(str::to_owned),
            by_bot: false,
        });
        exec.advance(now);
        true
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn throttled(&mut self, operation: &str) -> Result<(), BackendError> {
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Err(BackendError::Throttled {
                operation: operation.to_owned(),
                retry_after: None,
            });
        }
        Ok(())
    }

    fn execution(&mut self, id: &ExecutionId) -> Result<&mut Execution, BackendError> {
        self.executions
            .get_mut(id)
            .ok_or_else(|| BackendError::NotFound {
                what: format!("execution {id}"),
            })
    }
}

#[async_trait]
impl DeployBackend for ScriptedBackend {
    async fn start(&self, request: &StartRequest) -> Result<ExecutionId, BackendError> {
        let mut inner = self.lock();
        inner
            .calls
            .push(BackendCall::Start(Box::new(request.clone())));
        inner.throttled("StartAutomationExecution")?;
        if let Some(message) = &inner.refuse_start {
            return Err(BackendError::InvalidParameters {
                message: message.clone(),
            });
        }
        if let Some(id) = inner.tokens.get(&request.idempotency_token) {
            let id = id.clone();
            // As SSM: the token names one start, of one document with
            // one set of inputs.
            let same = inner.executions.get(&id).is_some_and(|e| {
                e.request.document == request.document && e.request.parameters == request.parameters
            });
            return if same {
                Ok(id)
            } else {
                Err(BackendError::IdempotencyMismatch {
                    token: request.idempotency_token.to_string(),
                })
            };
        }
        let steps = inner
            .scripts
            .get(&request.document)
            .cloned()
            .ok_or_else(|| BackendError::NotFound {
                what: format!("document {}", request.document),
            })?;
        let id = ExecutionId::new(format!("exec-{}", inner.executions.len() + 1));
        let count = steps.len();
        let approval_timeout = inner.approval_timeout;
        inner.executions.insert(
            id.clone(),
            Execution {
                steps,
                current: 0,
                step_started: Instant::now(),
                status: ExecutionStatus::Pending,
                step_status: vec![StepStatus::Pending; count],
                failure: None,
                decisions: vec![None; count],
                approval_timeout,
                status_override: None,
                request: request.clone(),
            },
        );
        inner.tokens.insert(request.idempotency_token, id.clone());
        Ok(id)
    }

    async fn snapshot(&self, execution: &ExecutionId) -> Result<ExecutionSnapshot, BackendError> {
        let mut inner = self.lock();
        inner.calls.push(BackendCall::Snapshot(execution.clone()));
        inner.throttled("GetAutomationExecution")?;
        if let Some(message) = &inner.unreadable {
            return Err(BackendError::AccessDenied {
                action: "ssm:GetAutomationExecution".into(),
                message: message.clone(),
            });
        }
        let exec = inner.execution(execution)?;
        exec.advance(Instant::now());
        Ok(exec.snapshot())
    }

    async fn signal(
        &self,
        execution: &ExecutionId,
        signal: Signal,
        comment: &str,
    ) -> Result<(), BackendError> {
        let mut inner = self.lock();
        inner.calls.push(BackendCall::Signal(
            execution.clone(),
            signal,
            comment.to_owned(),
        ));
        inner.throttled("SendAutomationSignal")?;
        let now = Instant::now();
        let bot_is_approver = inner.bot_is_approver;
        let exec = inner.execution(execution)?;
        exec.advance(now);
        // Both as SSM answers them: InvalidAutomationSignalException.
        if exec.status != ExecutionStatus::Waiting {
            return Err(BackendError::SignalRefused {
                message: format!("execution is {:?}, not waiting for a signal", exec.status),
            });
        }
        if !bot_is_approver {
            return Err(BackendError::SignalRefused {
                message: format!(
                    "{SCRIPTED_BOT_ARN} is not an approver of step {}",
                    exec.steps[exec.current].name()
                ),
            });
        }
        exec.decisions[exec.current] = Some(ApprovalDecisionRecord {
            approver: SCRIPTED_BOT_ARN.into(),
            decision: signal,
            at: Some(Utc::now()),
            comment: Some(comment.to_owned()),
            by_bot: true,
        });
        exec.advance(now);
        Ok(())
    }

    async fn cancel(&self, execution: &ExecutionId) -> Result<(), BackendError> {
        let mut inner = self.lock();
        inner.calls.push(BackendCall::Cancel(execution.clone()));
        inner.throttled("StopAutomationExecution")?;
        let now = Instant::now();
        let exec = inner.execution(execution)?;
        exec.advance(now);
        if exec.stop() {
            Ok(())
        } else {
            Err(BackendError::InvalidState {
                operation: "StopAutomationExecution".into(),
                message: "execution has already ended".into(),
            })
        }
    }

    async fn describe(&self, document: &str) -> Result<DocumentDescription, BackendError> {
        let mut inner = self.lock();
        inner.calls.push(BackendCall::Describe(document.to_owned()));
        if !inner.scripts.contains_key(document) {
            return Err(BackendError::NotFound {
                what: format!("document {document}"),
            });
        }
        Ok(DocumentDescription {
            name: document.to_owned(),
            version: Some("1".into()),
            parameters: vec![DocumentParameter {
                name: "ReleaseVersion".into(),
                kind: "String".into(),
                default_value: None,
                description: None,
            }],
        })
    }

    async fn approval_gate(&self, request: &StartRequest) -> Result<ApprovalGate, BackendError> {
        let inner = self.lock();
        let steps = inner
            .scripts
            .get(&request.document)
            .ok_or_else(|| BackendError::NotFound {
                what: format!("document {}", request.document),
            })?;
        Ok(ApprovalGate {
            identity: SCRIPTED_BOT_ARN.to_owned(),
            document_version: Some("1".to_owned()),
            step_order: steps.iter().map(|s| s.name().to_owned()).collect(),
            steps: steps
                .iter()
                .filter(|s| s.is_approval())
                .map(|s| ApprovalStep {
                    name: s.name().to_owned(),
                    approvers: vec![if inner.bot_is_approver {
                        SCRIPTED_BOT_ARN.to_owned()
                    } else {
                        "arn:aws:iam::123456789012:user/someone-else".to_owned()
                    }],
                    min_approvals: 1,
                    includes_bot: inner.bot_is_approver,
                })
                .collect(),
        })
    }

    fn execution_url(&self, execution: &ExecutionId) -> Option<String> {
        Some(format!("https://backend.example/executions/{execution}"))
    }
}
