//! The `Filters` of `DescribeAutomationExecutions` and
//! `DescribeAutomationStepExecutions`: keys from the model's
//! `AutomationExecutionFilterKey` and `StepExecutionFilterKey`, values
//! checked as SSM does (`InvalidFilterKey`, `InvalidFilterValue`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::runner::{Execution, StepRun};
use super::wire::WireError;

/// `AutomationExecutionStatus` (steps report the same values).
const STATUSES: [&str; 19] = [
    "Pending",
    "InProgress",
    "Waiting",
    "Success",
    "TimedOut",
    "Cancelling",
    "Cancelled",
    "Failed",
    "PendingApproval",
    "Approved",
    "Rejected",
    "Scheduled",
    "RunbookInProgress",
    "PendingChangeCalendarOverride",
    "ChangeCalendarOverrideApproved",
    "ChangeCalendarOverrideRejected",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Exited",
];

/// `AutomationExecutionFilterKey`.
pub(crate) const EXECUTION_KEYS: [&str; 12] = [
    "DocumentNamePrefix",
    "ExecutionStatus",
    "ExecutionId",
    "ParentExecutionId",
    "CurrentAction",
    "StartTimeBefore",
    "StartTimeAfter",
    "AutomationType",
    "TagKey",
    "TargetResourceGroup",
    "AutomationSubtype",
    "OpsItemId",
];

/// `StepExecutionFilterKey`.
pub(crate) const STEP_KEYS: [&str; 9] = [
    "StartTimeBefore",
    "StartTimeAfter",
    "StepExecutionStatus",
    "StepExecutionId",
    "StepName",
    "Action",
    "ParentStepExecutionId",
    "ParentStepIteration",
    "ParentStepIteratorValue",
];

/// One filter of a request: a known key and its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub(crate) key: &'static str,
    pub(crate) values: Vec<String>,
    /// The values of a time filter, parsed.
    times: Vec<DateTime<Utc>>,
}

fn validation(message: String) -> WireError {
    WireError::client(
        "ValidationException",
        format!("1 validation error detected: {message}"),
    )
}

/// A filter time value: RFC 3339 (`2024-05-01T12:00:00Z`), or a date and
/// time without an offset, or a date, both taken as UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Parses `Filters` of a request; `keys` are the model's enum values and
/// `max` the list's length limit.
pub(crate) fn parse(
    body: &Value,
    keys: &[&'static str],
    max: usize,
) -> Result<Vec<Filter>, WireError> {
    let Some(list) = body.get("Filters") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| validation("Value at 'filters' must be a list".into()))?;
    if list.is_empty() || list.len() > max {
        return Err(validation(format!(
            "Value at 'filters' failed to satisfy constraint: Member must have length \
             between 1 and {max}"
        )));
    }
    list.iter().map(|f| parse_one(f, keys)).collect()
}

fn parse_one(filter: &Value, keys: &[&'static str]) -> Result<Filter, WireError> {
    let key = filter
        .get("Key")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("Value null at 'filters.member.key' must not be null".into()))?;
    let key = *keys.iter().find(|k| **k == key).ok_or_else(|| {
        WireError::client(
            "InvalidFilterKey",
            format!("The filter key {key} is not valid"),
        )
    })?;
    let values: Vec<String> = filter
        .get("Values")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if values.is_empty() || values.len() > 10 {
        return Err(validation(
            "Value at 'filters.member.values' failed to satisfy constraint: Member must have \
             length between 1 and 10"
                .into(),
        ));
    }
    let bad = |v: &str| {
        WireError::client(
            "InvalidFilterValue",
            format!("The filter value {v} is not valid for the filter key {key}"),
        )
    };
    if let Some(v) = values
        .iter()
        .find(|v| v.is_empty() || v.chars().count() > 150)
    {
        return Err(bad(v));
    }
    let allowed: Option<&[&str]> = match key {
        "ExecutionStatus" | "StepExecutionStatus" => Some(&STATUSES),
        "AutomationType" => Some(&["CrossAccount", "Local"]),
        "AutomationSubtype" => Some(&["ChangeRequest", "AccessRequest"]),
        _ => None,
    };
    if let Some(v) = allowed.and_then(|a| values.iter().find(|v| !a.contains(&v.as_str()))) {
        return Err(bad(v));
    }
    let times = if key.starts_with("StartTime") {
        values
            .iter()
            .map(|v| parse_time(v).ok_or_else(|| bad(v)))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(Filter { key, values, times })
}

impl Filter {
    fn any(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }

    /// A time filter on `started`: before (or after) any of its values.
    fn time(&self, started: Option<DateTime<Utc>>) -> bool {
        let Some(started) = started else {
            return false;
        };
        match self.key {
            "StartTimeBefore" => self.times.iter().any(|t| started < *t),
            _ => self.times.iter().any(|t| started > *t),
        }
    }

    /// Whether an execution passes this filter.
    pub(crate) fn execution(&self, e: &Execution) -> bool {
        let current = e.steps.get(e.current).filter(|_| !e.is_terminal());
        match self.key {
            "DocumentNamePrefix" => self
                .values
                .iter()
                .any(|v| e.document.starts_with(v.as_str())),
            "ExecutionStatus" => self.any(e.status),
            "ExecutionId" => self.any(&e.id),
            "CurrentAction" => current.is_some_and(|s| self.any(&s.def.action)),
            "StartTimeBefore" | "StartTimeAfter" => self.time(Some(e.origin.1)),
            "AutomationType" => self.any("Local"),
            // The value is a tag key (the name says so; the docs show no
            // other form).
            "TagKey" => e.tags.iter().any(|t| self.any(&t.key)),
            // The emulator's executions have no parent, targets, subtype or
            // OpsItem.
            _ => false,
        }
    }

    /// Whether a step execution passes this filter.
    pub(crate) fn step(&self, e: &Execution, s: &StepRun) -> bool {
        match self.key {
            "StepName" => self.any(&s.def.name),
            "Action" => self.any(&s.def.action),
            "StepExecutionStatus" => self.any(s.status),
            "StepExecutionId" => self.any(&s.id),
            "StartTimeBefore" | "StartTimeAfter" => self.time(s.started.map(|t| e.wall(t))),
            // No loops: no step has a parent.
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kind(body: Value) -> String {
        parse(&body, &EXECUTION_KEYS, 10).unwrap_err().kind
    }

    #[test]
    fn keys_and_values_are_checked() {
        let ok = parse(
            &json!({"Filters": [{"Key": "ExecutionStatus", "Values": ["Waiting", "Success"]}]}),
            &EXECUTION_KEYS,
            10,
        )
        .unwrap();
        assert_eq!(ok[0].key, "ExecutionStatus");
        assert!(parse(&json!({}), &EXECUTION_KEYS, 10).unwrap().is_empty());
        assert_eq!(
            kind(json!({"Filters": [{"Key": "Colour", "Values": ["x"]}]})),
            "InvalidFilterKey"
        );
        assert_eq!(
            kind(json!({"Filters": [{"Key": "StepName", "Values": ["x"]}]})),
            "InvalidFilterKey"
        );
        assert_eq!(
            kind(json!({"Filters": [{"Key": "ExecutionStatus", "Values": ["Done"]}]})),
            "InvalidFilterValue"
        );
        assert_eq!(
            kind(json!({"Filters": [{"Key": "StartTimeBefore", "Values": ["yesterday"]}]})),
            "InvalidFilterValue"
        );
        assert_eq!(
            kind(json!({"Filters": [{"Key": "AutomationType", "Values": ["Remote"]}]})),
            "InvalidFilterValue"
        );
        assert_eq!(kind(json!({"Filters": []})), "ValidationException");
        assert_eq!(
            kind(json!({"Filters": [{"Key": "ExecutionId", "Values": []}]})),
            "ValidationException"
        );
        let step = parse(
            &json!({"Filters": [{"Key": "ParentStepIteration", "Values": ["1"]}]}),
            &STEP_KEYS,
            6,
        );
        assert!(step.is_ok());
    }

    #[test]
    fn times_parse_in_the_usual_forms() {
        let t = |s| parse_time(s).map(|t| t.timestamp());
        assert_eq!(t("2024-05-01T00:00:00Z"), Some(1_714_521_600));
        assert_eq!(t("2024-05-01T02:00:00+02:00"), Some(1_714_521_600));
        assert_eq!(t("2024-05-01T00:00:00"), Some(1_714_521_600));
        assert_eq!(t("2024-05-01"), Some(1_714_521_600));
        assert_eq!(t("1714521600"), None);
        assert_eq!(t("May 1st"), None);
    }
}
