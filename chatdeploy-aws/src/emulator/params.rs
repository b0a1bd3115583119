//! A document's input parameters and the checks SSM makes on them at
//! `StartAutomationExecution`: declared names, required ones, `type`,
//! `allowedPattern`, `allowedValues`, `minItems`/`maxItems` and
//! `minChars`/`maxChars`.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use super::wire::WireError;

/// How a parameter's values are shaped on the wire (a list of strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Exactly one value (`String` and the `AWS::…` resource types).
    String,
    /// Any number of values.
    StringList,
    /// Exactly one value that parses as an integer.
    Integer,
    /// Exactly one value, `true` or `false`.
    Boolean,
    /// Any number of values, each a JSON object.
    MapList,
    /// Exactly one value, a JSON object.
    StringMap,
}

impl Kind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "String" => Self::String,
            "StringList" => Self::StringList,
            "Integer" => Self::Integer,
            "Boolean" => Self::Boolean,
            "MapList" => Self::MapList,
            "StringMap" => Self::StringMap,
            // e.g. List<AWS::EC2::Instance::Id>
            other if other.starts_with("List<AWS::") => Self::StringList,
            other if other.starts_with("AWS::") => Self::String,
            _ => return None,
        })
    }

    fn single(self) -> bool {
        !matches!(self, Self::StringList | Self::MapList)
    }
}

/// A document's declared input parameter.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: String,
    /// The declared `type`, as written.
    pub(crate) kind: String,
    shape: Kind,
    pub(crate) description: Option<String>,
    /// The default as SSM reports it: strings as is, anything else as JSON.
    pub(crate) default: Option<String>,
    allowed_pattern: Option<Regex>,
    allowed_values: Vec<String>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    min_chars: Option<usize>,
    max_chars: Option<usize>,
}

/// A scalar as a string: strings as is, numbers and booleans as written.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Param {
    /// One entry of a document's `parameters`; the message says why it is
    /// not one SSM would accept.
    pub(crate) fn parse(name: &str, spec: &Value) -> Result<Self, String> {
        let text = |k: &str| spec.get(k).and_then(Value::as_str).map(str::to_owned);
        let kind = text("type").unwrap_or_else(|| "String".to_owned());
        let shape = Kind::parse(&kind)
            .ok_or_else(|| format!("parameter {name} has an unsupported type {kind}"))?;
        let count = |k: &str| -> Result<Option<usize>, String> {
            match spec.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| format!("{k} of parameter {name} is not a whole number")),
            }
        };
        let allowed_pattern = text("allowedPattern")
            .map(|p| {
                Regex::new(&p)
                    .map_err(|e| format!("allowedPattern of parameter {name} is invalid: {e}"))
            })
            .transpose()?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            shape,
            description: text("description"),
            default: spec.get("default").map(scalar),
            allowed_pattern,
            allowed_values: spec
                .get("allowedValues")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().map(scalar).collect())
                .unwrap_or_default(),
            min_items: count("minItems")?,
            max_items: count("maxItems")?,
            min_chars: count("minChars")?,
            max_chars: count("maxChars")?,
        })
    }

    /// Checks the values given for this parameter; the error names the rule.
    fn check(&self, values: &[String]) -> Result<(), String> {
        let shape = self.shape;
        if shape.single() && values.len() != 1 {
            return Err(format!(
                "type {} takes exactly one value, got {}",
                self.kind,
                values.len()
            ));
        }
        if let Some(min) = self.min_items.filter(|min| values.len() < *min) {
            return Err(format!("minItems {min}"));
        }
        if let Some(max) = self.max_items.filter(|max| values.len() > *max) {
            return Err(format!("maxItems {max}"));
        }
        for value in values {
            let object = || serde_json::from_str::<Value>(value).is_ok_and(|v| v.is_object());
            let typed = match shape {
                Kind::Integer => value.trim().parse::<i64>().is_ok(),
                Kind::Boolean => matches!(value.to_ascii_lowercase().as_str(), "true" | "false"),
                Kind::MapList | Kind::StringMap => object(),
                Kind::String | Kind::StringList => true,
            };
            if !typed {
                return Err(format!("type {} (value {value:?})", self.kind));
            }
            let chars = value.chars().count();
            if let Some(min) = self.min_chars.filter(|min| chars < *min) {
                return Err(format!("minChars {min}"));
            }
            if let Some(max) = self.max_chars.filter(|max| chars > *max) {
                return Err(format!("maxChars {max}"));
            }
            if let Some(pattern) = self.allowed_pattern.as_ref().filter(|p| !p.is_match(value)) {
                return Err(format!("allowedPattern {}", pattern.as_str()));
            }
            if !self.allowed_values.is_empty() && !self.allowed_values.contains(value) {
                return Err(format!("allowedValues {}", self.allowed_values.join(", ")));
            }
        }
        Ok(())
    }
}

/// Checks start parameters as SSM does: every name declared, every
/// parameter without a default given, every given value within its
/// declaration. Returns them with defaults added.
pub(crate) fn resolve(
    params: &[Param],
    given: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, WireError> {
    let invalid = |m: String| WireError::client("InvalidAutomationExecutionParametersException", m);
    if let Some(unknown) = given.keys().find(|k| !params.iter().any(|p| &p.name == *k)) {
        return Err(invalid(format!(
            "Parameter \"{unknown}\" is not defined in the automation definition"
        )));
    }
    let mut resolved = given.clone();
    for p in params {
        if let Some(values) = given.get(&p.name) {
            p.check(values).map_err(|rule| {
                invalid(format!(
                    "Parameter \"{}\" failed to satisfy constraint: {rule}",
                    p.name
                ))
            })?;
            continue;
        }
        match &p.default {
            Some(default) => {
                let values = serde_json::from_str::<Vec<String>>(default)
                    .unwrap_or_else(|_| vec![default.clone()]);
                resolved.insert(p.name.clone(), values);
            }
            None => {
                return Err(invalid(format!(
                    "The following parameters are required: {}",
                    p.name
                )));
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn param(spec: Value) -> Param {
        Param::parse("P", &spec).unwrap()
    }

    fn check(spec: Value, values: &[&str]) -> Result<(), String> {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        param(spec).check(&values)
    }

    #[test]
    fn values_are_checked_against_their_declaration() {
        let version = json!({"type": "String", "allowedPattern": r"^r-\d+\.\d+\.\d+$"});
        let env = json!({"type": "String", "allowedValues": ["production", "staging"]});
        let list = json!({"type": "StringList", "minItems": 1, "maxItems": 2, "maxChars": 3});
        let table: &[(&Value, &[&str], Result<(), &str>)] = &[
            (&version, &["r-1.2.3"], Ok(())),
            (
                &version,
                &["r-1.2"],
                Err(r"allowedPattern ^r-\d+\.\d+\.\d+$"),
            ),
            (
                &version,
                &["xr-1.2.3"],
                Err(r"allowedPattern ^r-\d+\.\d+\.\d+$"),
            ),
            (
                &version,
                &[],
                Err("type String takes exactly one value, got 0"),
            ),
            (
                &version,
                &["r-1.2.3", "r-1.2.4"],
                Err("type String takes exactly one value, got 2"),
            ),
            (&env, &["staging"], Ok(())),
            (&env, &["dev"], Err("allowedValues production, staging")),
            (&list, &["a", "bcd"], Ok(())),
            (&list, &[], Err("minItems 1")),
            (&list, &["a", "b", "c"], Err("maxItems 2")),
            (&list, &["abcd"], Err("maxChars 3")),
        ];
        for (spec, values, expected) in table {
            let got = check((*spec).clone(), values);
            assert_eq!(got, expected.map_err(str::to_owned), "{spec} {values:?}");
        }
    }

    #[test]
    fn types_are_checked() {
        assert!(check(json!({"type": "Integer"}), &["42"]).is_ok());
        assert!(check(json!({"type": "Integer"}), &["4.2"]).is_err());
        assert!(check(json!({"type": "Integer", "allowedValues": [1, 2]}), &["2"]).is_ok());
        assert!(check(json!({"type": "Boolean"}), &["true"]).is_ok());
        assert!(check(json!({"type": "Boolean"}), &["yes"]).is_err());
        assert!(check(json!({"type": "StringMap"}), &[r#"{"a":"b"}"#]).is_ok());
        assert!(check(json!({"type": "StringMap"}), &["[1]"]).is_err());
        assert!(check(json!({"type": "MapList"}), &[r#"{"a":1}"#, "{}"]).is_ok());
        assert!(check(json!({"type": "MapList"}), &["a"]).is_err());
        assert!(check(json!({"type": "String", "minChars": 2}), &["a"]).is_err());
        assert!(check(json!({"type": "AWS::EC2::Instance::Id"}), &["i-1"]).is_ok());
        assert!(Param::parse("P", &json!({"type": "Float"})).is_err());
        assert!(Param::parse("P", &json!({"allowedPattern": "("})).is_err());
        assert!(Param::parse("P", &json!({"minItems": -1})).is_err());
    }

    #[test]
    fn resolve_names_the_parameter_and_the_rule() {
        let params = vec![
            Param::parse("ReleaseVersion", &json!({"allowedPattern": r"^r-\d+$"})).unwrap(),
            Param::parse("Target", &json!({"default": "production"})).unwrap(),
        ];
        let given = |v: &str| BTreeMap::from([("ReleaseVersion".to_owned(), vec![v.to_owned()])]);
        let resolved = resolve(&params, &given("r-1")).unwrap();
        assert_eq!(resolved["Target"], ["production"]);
        let err = resolve(&params, &given("1")).unwrap_err();
        assert_eq!(err.kind, "InvalidAutomationExecutionParametersException");
        assert_eq!(
            err.message,
            r#"Parameter "ReleaseVersion" failed to satisfy constraint: allowedPattern ^r-\d+$"#
        );
        let missing = resolve(&params, &BTreeMap::new()).unwrap_err();
        assert!(missing.message.contains("ReleaseVersion"));
        let unknown = BTreeMap::from([("Nope".to_owned(), vec![])]);
        assert!(
            resolve(&params, &unknown)
                .unwrap_err()
                .message
                .contains("Nope")
        );
    }
}
