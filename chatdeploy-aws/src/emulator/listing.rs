//! `DescribeAutomationExecutions` and `DescribeAutomationStepExecutions`:
//! filtered, paged listings.

use serde_json::{Map, Value, json};

use super::filters::{self, EXECUTION_KEYS, STEP_KEYS};
use super::ops::State;
use super::paging;
use super::runner::Ctx;
use super::wire::WireError;

impl State {
    /// DescribeAutomationExecutions: newest first.
    pub(crate) fn describe_executions(
        &mut self,
        body: &Value,
        ctx: &Ctx<'_>,
    ) -> Result<Value, WireError> {
        let filters = filters::parse(body, &EXECUTION_KEYS, 10)?;
        let max = paging::max_results(body)?;
        let scope = paging::scope("DescribeAutomationExecutions", body, &["Filters"]);
        // A token holds the index (in creation order) below which the next
        // page starts, so executions started meanwhile do not shift pages.
        let bound = match body.get("NextToken") {
            Some(_) => paging::position(body, &scope, self.executions.len())?,
            None => self.executions.len(),
        };
        let mut list = Vec::new();
        let mut next = None;
        for index in (0..bound).rev() {
            let execution = &mut self.executions[index];
            execution.advance(ctx);
            if !filters.iter().all(|f| f.execution(execution)) {
                continue;
            }
            if list.len() == max {
                next = Some(paging::token(&scope, index + 1));
                break;
            }
            list.push(execution.metadata_json());
        }
        let mut out = Map::new();
        out.insert("AutomationExecutionMetadataList".into(), Value::Array(list));
        if let Some(token) = next {
            out.insert("NextToken".into(), json!(token));
        }
        Ok(Value::Object(out))
    }

    /// DescribeAutomationStepExecutions: in the order the steps run, or
    /// the reverse.
    pub(crate) fn describe_step_executions(
        &mut self,
        body: &Value,
        ctx: &Ctx<'_>,
    ) -> Result<Value, WireError> {
        let filters = filters::parse(body, &STEP_KEYS, 6)?;
        let max = paging::max_results(body)?;
        let reverse = body
            .get("ReverseOrder")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let scope = paging::scope(
            "DescribeAutomationStepExecutions",
            body,
            &["AutomationExecutionId", "Filters", "ReverseOrder"],
        );
        let execution = self.execution(body)?;
        execution.advance(ctx);
        let mut steps: Vec<_> = execution
            .steps
            .iter()
            .filter(|s| filters.iter().all(|f| f.step(execution, s)))
            .collect();
        if reverse {
            steps.reverse();
        }
        let start = paging::position(body, &scope, steps.len())?;
        let end = (start + max).min(steps.len());
        let page: Vec<Value> = steps[start..end]
            .iter()
            .map(|s| execution.step_json(s))
            .collect();
        let mut out = Map::new();
        out.insert("StepExecutions".into(), Value::Array(page));
        if end < steps.len() {
            out.insert("NextToken".into(), json!(paging::token(&scope, end)));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::emulator::Settings;
    use crate::emulator::document::Document;
    use crate::emulator::runner::{Execution, Tag};

    const DOC: &str = "schemaVersion: '0.3'\nmainSteps:\n  - name: A\n    action: aws:sleep\n    inputs:\n      Duration: PT1S\n  - name: B\n    action: aws:approve\n    inputs:\n      Approvers: [x]\n  - name: C\n    action: aws:runCommand\n";

    fn state(n: usize, now: Instant) -> State {
        let doc = Document::parse("Deploy-App", DOC, None, "Automation").unwrap();
        let mut state = State::default();
        for i in 0..n {
            let mut e = Execution::new(&doc, BTreeMap::new(), BTreeMap::new(), "me".into(), now);
            if i % 2 == 0 {
                e.tags.push(Tag {
                    key: "even".into(),
                    value: "yes".into(),
                });
            }
            state.executions.push(e);
        }
        state
    }

    fn ctx(now: Instant, failures: &BTreeMap<(String, String), String>) -> Ctx<'_> {
        Ctx {
            now,
            settings: Settings::default(),
            failures,
        }
    }

    fn ids(page: &Value, list: &str, id: &str) -> Vec<String> {
        page[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[id].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn executions_page_newest_first_with_filters() {
        let now = Instant::now();
        let failures = BTreeMap::new();
        let ctx = ctx(now, &failures);
        let mut state = state(7, now);
        let all: Vec<String> = state
            .executions
            .iter()
            .rev()
            .map(|e| e.id.clone())
            .collect();
        let mut body = json!({"MaxResults": 3});
        let mut seen = Vec::new();
        loop {
            let page = state.describe_executions(&body, &ctx).unwrap();
            seen.extend(ids(
                &page,
                "AutomationExecutionMetadataList",
                "AutomationExecutionId",
            ));
            match page.get("NextToken") {
                Some(t) => body = json!({"MaxResults": 3, "NextToken": t}),
                None => break,
            }
        }
        assert_eq!(seen, all);

        let tagged = json!({"Filters": [{"Key": "TagKey", "Values": ["even"]}]});
        let page = state.describe_executions(&tagged, &ctx).unwrap();
        assert_eq!(
            page["AutomationExecutionMetadataList"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        let filters = |key: &str, value: &str| json!({"Filters": [{"Key": key, "Values": [value]}, {"Key": "DocumentNamePrefix", "Values": ["Deploy"]}]});
        let count = |state: &mut State, body: Value| {
            state.describe_executions(&body, &ctx).unwrap()["AutomationExecutionMetadataList"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(
            count(&mut state, filters("ExecutionStatus", "InProgress")),
            7
        );
        assert_eq!(count(&mut state, filters("ExecutionStatus", "Waiting")), 0);
        assert_eq!(count(&mut state, filters("CurrentAction", "aws:sleep")), 7);
        assert_eq!(count(&mut state, filters("AutomationType", "Local")), 7);
        assert_eq!(
            count(&mut state, filters("AutomationType", "CrossAccount")),
            0
        );
        assert_eq!(
            count(&mut state, filters("StartTimeAfter", "2000-01-01")),
            7
        );
        assert_eq!(
            count(&mut state, filters("StartTimeBefore", "2000-01-01")),
            0
        );
        assert_eq!(count(&mut state, filters("ParentExecutionId", "x")), 0);
        assert_eq!(count(&mut state, filters("ExecutionId", &all[2])), 1);
        let other = json!({"MaxResults": 3, "Filters": [{"Key": "TagKey", "Values": ["odd"]}]});
        let first = state
            .describe_executions(&json!({"MaxResults": 3}), &ctx)
            .unwrap();
        let mut replay = other.clone();
        replay["NextToken"] = first["NextToken"].clone();
        let err = state.describe_executions(&replay, &ctx).unwrap_err();
        assert_eq!(err.kind, "InvalidNextToken");
    }

    #[test]
    fn steps_page_in_either_order() {
        let now = Instant::now();
        let failures = BTreeMap::new();
        let mut state = state(1, now);
        let id = state.executions[0].id.clone();
        let later = ctx(now + Duration::from_secs(2), &failures);
        let body = json!({"AutomationExecutionId": id, "MaxResults": 2});
        let page = state.describe_step_executions(&body, &later).unwrap();
        assert_eq!(ids(&page, "StepExecutions", "StepName"), ["A", "B"]);
        let mut next = body.clone();
        next["NextToken"] = page["NextToken"].clone();
        let page = state.describe_step_executions(&next, &later).unwrap();
        assert_eq!(ids(&page, "StepExecutions", "StepName"), ["C"]);
        assert!(page.get("NextToken").is_none());
        let reverse = json!({"AutomationExecutionId": id, "ReverseOrder": true});
        let page = state.describe_step_executions(&reverse, &later).unwrap();
        assert_eq!(ids(&page, "StepExecutions", "StepName"), ["C", "B", "A"]);
        let waiting = json!({"AutomationExecutionId": id, "Filters": [{"Key": "StepExecutionStatus", "Values": ["Waiting", "Success"]}]});
        let page = state.describe_step_executions(&waiting, &later).unwrap();
        assert_eq!(ids(&page, "StepExecutions", "StepName"), ["A", "B"]);
        let action = json!({"AutomationExecutionId": id, "Filters": [{"Key": "Action", "Values": ["aws:runCommand"]}]});
        let page = state.describe_step_executions(&action, &later).unwrap();
        assert_eq!(ids(&page, "StepExecutions", "StepName"), ["C"]);
        let missing = json!({"AutomationExecutionId": "nope"});
        let err = state
            .describe_step_executions(&missing, &later)
            .unwrap_err();
        assert_eq!(err.kind, "AutomationExecutionNotFoundException");
    }
}
