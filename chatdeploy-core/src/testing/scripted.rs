//! A scripted deploy backend on tokio's clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::time::Instant;

use crate::backend::{
    ApprovalDecisionRecord, ApprovalWait, BackendError, DeployBackend, DocumentDescription,
    DocumentParameter, ExecutionSnapshot, ExecutionStatus, Signal, StartRequest, StepSnapshot,
    StepStatus,
};
use crate::ids::ExecutionId;

/// One step of a scripted execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeStep {
    /// Runs for the duration, then succeeds.
    Run(&'static str, Duration),
    /// Waits for an approval signal (`aws:approve`).
    Approve(&'static str),
    /// Runs for the duration, then fails with the message.
    Fail(&'static str, Duration, &'static str),
}

impl FakeStep {
    fn name(&self) -> &'static str {
        match self {
            Self::Run(name, _) | Self::Approve(name) | Self::Fail(name, _, _) => name,
        }
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
                FakeStep::Approve(_) => match &self.decisions[i] {
                    None => {
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

    fn snapshot(&self) -> ExecutionSnapshot {
        let steps: Vec<StepSnapshot> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| StepSnapshot {
                name: step.name().to_owned(),
                action: match step {
                    FakeStep::Approve(_) => "aws:approve".to_owned(),
                    _ => "aws:executeScript".to_owned(),
                },
                status: self.step_status[i].clone(),
                started_at: None,
                ended_at: None,
                failure_message: match (step, &self.step_status[i]) {
                    (FakeStep::Fail(_, _, message), StepStatus::Failed) => {
                        Some((*message).to_owned())
                    }
                    (FakeStep::Approve(_), StepStatus::Failed) => {
                        Some("Step was rejected".to_owned())
                    }
                    _ => None,
                },
                decisions: self.decisions[i].iter().cloned().collect(),
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
            status: self.status.clone(),
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
}

/// A [`DeployBackend`] that runs each document's scripted steps on tokio's
/// clock (so tests drive it with `tokio::time::pause`), honours idempotency
/// tokens as SSM does, and records every call.
#[derive(Debug, Default)]
pub struct ScriptedBackend {
    inner: Mutex<Inner>,
}

impl ScriptedBackend {
    /// A backend with no documents.
    pub fn new() -> Self {
        Self::default()
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
            comment: None,
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
            let same = inner
                .executions
                .get(&id)
                .is_some_and(|e| e.request.parameters == request.parameters);
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
        let exec = inner.execution(execution)?;
        exec.advance(now);
        if exec.status != ExecutionStatus::Waiting {
            return Err(BackendError::InvalidState {
                operation: "SendAutomationSignal".into(),
                message: format!("execution is {:?}, not waiting", exec.status),
            });
        }
        exec.decisions[exec.current] = Some(ApprovalDecisionRecord {
            approver: "arn:aws:iam::123456789012:role/chatdeploy".into(),
            decision: signal,
            at: Some(Utc::now()),
            comment: Some(comment.to_owned()),
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
        if exec.status.is_terminal() {
            return Err(BackendError::InvalidState {
                operation: "StopAutomationExecution".into(),
                message: "execution has already ended".into(),
            });
        }
        exec.status = ExecutionStatus::Cancelled;
        if let Some(status) = exec.step_status.get_mut(exec.current) {
            *status = StepStatus::Cancelled;
        }
        Ok(())
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

    fn execution_url(&self, execution: &ExecutionId) -> Option<String> {
        Some(format!("https://backend.example/executions/{execution}"))
    }
}
