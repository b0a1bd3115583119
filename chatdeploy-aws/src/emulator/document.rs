//! Automation documents as the emulator understands them: schema 0.3,
//! JSON or YAML, `parameters` and `mainSteps` (`assumeRole`, `outputs` and
//! branching are accepted and ignored).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::params::{self, Param};
use super::wire::WireError;

/// One of `mainSteps`.
#[derive(Debug, Clone)]
pub(crate) struct StepDef {
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) inputs: Map<String, Value>,
    /// The step's `timeoutSeconds`, if it declares one.
    pub(crate) timeout_seconds: Option<u64>,
}

impl StepDef {
    /// How long the step may run: its `timeoutSeconds`, or for
    /// `aws:approve` SSM's default of 7 days.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        const APPROVE_DEFAULT: u64 = 604_800;
        self.timeout_seconds
            .or((self.action == "aws:approve").then_some(APPROVE_DEFAULT))
            .map(Duration::from_secs)
    }
}

/// A stored document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) name: String,
    pub(crate) format: String,
    pub(crate) document_type: String,
    pub(crate) description: Option<String>,
    pub(crate) parameters: Vec<Param>,
    pub(crate) steps: Vec<StepDef>,
    pub(crate) created: DateTime<Utc>,
    pub(crate) hash: String,
    /// The content as it was given, for `GetDocument`.
    pub(crate) content: String,
}

impl Document {
    /// Parses `content` in `format` (`JSON` or `YAML`; `None` tries both).
    pub(crate) fn parse(
        name: &str,
        content: &str,
        format: Option<&str>,
        document_type: &str,
    ) -> Result<Self, WireError> {
        let invalid = |m: String| WireError::client("InvalidDocumentContent", m);
        let (value, format): (Value, &str) = match format {
            Some("JSON") => (
                serde_json::from_str(content).map_err(|e| invalid(e.to_string()))?,
                "JSON",
            ),
            Some("YAML") => (
                serde_yaml::from_str(content).map_err(|e| invalid(e.to_string()))?,
                "YAML",
            ),
            Some(other) => {
                return Err(invalid(format!("document format {other} is not supported")));
            }
            None => match serde_json::from_str(content) {
                Ok(value) => (value, "JSON"),
                Err(_) => (
                    serde_yaml::from_str(content).map_err(|e| invalid(e.to_string()))?,
                    "YAML",
                ),
            },
        };
        let root = value
            .as_object()
            .ok_or_else(|| invalid("the document is not an object".into()))?;
        match root.get("schemaVersion").and_then(Value::as_str) {
            Some("0.3") => {}
            other => {
                return Err(WireError::client(
                    "InvalidDocumentSchemaVersion",
                    format!("schemaVersion {other:?} is not supported; Automation uses 0.3"),
                ));
            }
        }
        let parameters = root
            .get("parameters")
            .and_then(Value::as_object)
            .map(|params| {
                params
                    .iter()
                    .map(|(n, spec)| Param::parse(n, spec))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(invalid)?
            .unwrap_or_default();
        let steps = root
            .get("mainSteps")
            .and_then(Value::as_array)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("mainSteps must be a non-empty list".into()))?
            .iter()
            .map(step)
            .collect::<Result<Vec<_>, String>>()
            .map_err(invalid)?;
        Ok(Self {
            name: name.to_owned(),
            format: format.to_owned(),
            document_type: document_type.to_owned(),
            description: root
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters,
            steps,
            created: Utc::now(),
            hash: format!("{:x}", Sha256::digest(content.as_bytes())),
            content: content.to_owned(),
        })
    }

    /// Checks start parameters against the declarations (see
    /// [`params::resolve`]); returns them with defaults added.
    pub(crate) fn resolve(
        &self,
        given: &BTreeMap<String, Vec<String>>,
    ) -> Result<BTreeMap<String, Vec<String>>, WireError> {
        params::resolve(&self.parameters, given)
    }
}

fn step(value: &Value) -> Result<StepDef, String> {
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = text("name").ok_or("a step has no name")?;
    let action = text("action").ok_or_else(|| format!("step {name} has no action"))?;
    let timeout_seconds = match value.get("timeoutSeconds") {
        None => None,
        // YAML documents may quote it.
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("timeoutSeconds of step {name} is not a whole number"))?,
        ),
    };
    Ok(StepDef {
        timeout_seconds,
        inputs: value
            .get("inputs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        name,
        action,
    })
}

/// An ISO 8601 duration as `aws:sleep` takes it (`PT2S`, `PT1M30S`, `P1D`,
/// `PT0.5S`).
pub(crate) fn iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut seconds = 0.0_f64;
    for (part, units) in [
        (date, &[('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
            } else {
                let unit = units.iter().find(|(u, _)| *u == c)?.1;
                seconds += number.parse::<f64>().ok()? * unit;
                number.clear();
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// Replaces `{{ Name }}` with the parameter's values (joined by commas).
pub(crate) fn interpolate(text: &str, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = text.to_owned();
    for (name, values) in params {
        for pattern in [format!("{{{{ {name} }}}}"), format!("{{{{{name}}}}}")] {
            out = out.replace(&pattern, &values.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration("PT2S"), Some(Duration::from_secs(2)));
        assert_eq!(iso_duration("PT1M30S"), Some(Duration::from_secs(90)));
        assert_eq!(iso_duration("P1DT1H"), Some(Duration::from_secs(90_000)));
        assert_eq!(iso_duration("PT0.25S"), Some(Duration::from_millis(250)));
        assert_eq!(iso_duration("2 seconds"), None);
        assert_eq!(iso_duration("PT2"), None);
    }

    const YAML: &str = "schemaVersion: '0.3'\nparameters:\n  ReleaseVersion:\n    type: String\n  Target:\n    type: String\n    default: production\nmainSteps:\n  - name: Wait\n    action: aws:sleep\n    inputs:\n      Duration: PT1S\n";

    #[test]
    fn parses_yaml_and_checks_parameters() {
        let doc = Document::parse("D", YAML, None, "Automation").unwrap();
        assert_eq!(doc.format, "YAML");
        assert_eq!(doc.steps[0].action, "aws:sleep");
        let missing = doc.resolve(&BTreeMap::new()).unwrap_err();
        assert_eq!(
            missing.kind,
            "InvalidAutomationExecutionParametersException"
        );
        let given = BTreeMap::from([("ReleaseVersion".to_owned(), vec!["r-1".to_owned()])]);
        let resolved = doc.resolve(&given).unwrap();
        assert_eq!(resolved["Target"], vec!["production".to_owned()]);
        let unknown = BTreeMap::from([("Nope".to_owned(), vec![])]);
        assert!(doc.resolve(&unknown).is_err());
        assert_eq!(interpolate("v={{ ReleaseVersion }}", &resolved), "v=r-1");
    }

    #[test]
    fn refuses_other_schemas() {
        let err = Document::parse(
            "D",
            "{\"schemaVersion\":\"2.2\",\"mainSteps\":[]}",
            None,
            "Command",
        )
        .unwrap_err();
        assert_eq!(err.kind, "InvalidDocumentSchemaVersion");
    }
}
