//! Tags on executions: given at `StartAutomationExecution` (at most 5 there,
//! as SSM documents), listed with `ListTagsForResource`, added and removed
//! with `AddTagsToResource` and `RemoveTagsFromResource` (at most 50 in all).

use serde_json::{Value, json};

use super::ops::State;
use super::runner::{Execution, Tag};
use super::wire::WireError;

/// How many tags an execution may carry in all (SSM's documented limit).
const MAX_TAGS: usize = 50;

fn validation(message: String) -> WireError {
    WireError::client(
        "ValidationException",
        format!("1 validation error detected: {message}"),
    )
}

/// The `Tags` member of a request, at most `max` of them.
pub(crate) fn parse(body: &Value, max: usize) -> Result<Vec<Tag>, WireError> {
    let Some(list) = body.get("Tags") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| validation("Value at 'tags' must be a list".into()))?;
    if list.len() > max {
        return Err(validation(format!(
            "Value at 'tags' failed to satisfy constraint: Member must have length less than \
             or equal to {max}"
        )));
    }
    list.iter()
        .map(|t| {
            let key = t.get("Key").and_then(Value::as_str).unwrap_or_default();
            let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
            if key.is_empty() || key.chars().count() > 128 {
                return Err(validation(
                    "Value at 'tags.member.key' failed to satisfy constraint: Member must have \
                     length between 1 and 128"
                        .into(),
                ));
            }
            if value.chars().count() > 256 {
                return Err(validation(
                    "Value at 'tags.member.value' failed to satisfy constraint: Member must have \
                     length less than or equal to 256"
                        .into(),
                ));
            }
            Ok(Tag {
                key: key.to_owned(),
                value: value.to_owned(),
            })
        })
        .collect()
}

fn tag_list(tags: &[Tag]) -> Value {
    tags.iter()
        .map(|t| json!({"Key": t.key, "Value": t.value}))
        .collect()
}

impl State {
    /// The tagged resource a request names: an execution, or (with no tags
    /// of its own here) a document.
    fn tagged(&mut self, body: &Value) -> Result<Option<&mut Execution>, WireError> {
        let kind = body
            .get("ResourceType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = body
            .get("ResourceId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let missing = || {
            WireError::client(
                "InvalidResourceId",
                format!("The resource ID {id} is not valid"),
            )
        };
        match kind {
            "Automation" => self
                .executions
                .iter_mut()
                .find(|e| e.id == id)
                .map(Some)
                .ok_or_else(missing),
            "Document" if self.documents.contains_key(id) => Ok(None),
            "Document" => Err(missing()),
            other => Err(WireError::client(
                "InvalidResourceType",
                format!("The resource type {other} is not supported by the emulator"),
            )),
        }
    }

    /// ListTagsForResource.
    pub(crate) fn list_tags(&mut self, body: &Value) -> Result<Value, WireError> {
        let tags = self.tagged(body)?.map(|e| tag_list(&e.tags));
        Ok(json!({ "TagList": tags.unwrap_or_else(|| json!([])) }))
    }

    /// AddTagsToResource: a tag with a key already present replaces it.
    pub(crate) fn add_tags(&mut self, body: &Value) -> Result<Value, WireError> {
        let new = parse(body, 1000)?;
        let Some(execution) = self.tagged(body)? else {
            return Err(WireError::client(
                "InvalidResourceType",
                "The emulator does not tag documents",
            ));
        };
        let mut tags = execution.tags.clone();
        for tag in new {
            tags.retain(|t| t.key != tag.key);
            tags.push(tag);
        }
        if tags.len() > MAX_TAGS {
            return Err(WireError::client(
                "TooManyTagsError",
                format!("The resource can have at most {MAX_TAGS} tags"),
            ));
        }
        execution.tags = tags;
        Ok(json!({}))
    }

    /// RemoveTagsFromResource.
    pub(crate) fn remove_tags(&mut self, body: &Value) -> Result<Value, WireError> {
        let keys: Vec<String> = body
            .get("TagKeys")
            .and_then(Value::as_array)
            .map(|ks| {
                ks.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(execution) = self.tagged(body)? {
            execution.tags.retain(|t| !keys.contains(&t.key));
        }
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_tags_are_limited() {
        let tags: Vec<Value> = (0..6)
            .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
            .collect();
        assert_eq!(parse(&json!({ "Tags": tags[..5] }), 5).unwrap().len(), 5);
        let err = parse(&json!({ "Tags": tags }), 5).unwrap_err();
        assert_eq!(err.kind, "ValidationException");
        assert!(
            err.message
                .ends_with("Member must have length less than or equal to 5"),
            "{}",
            err.message
        );
        assert!(parse(&json!({"Tags": [{"Value": "v"}]}), 5).is_err());
        assert!(parse(&json!({}), 5).unwrap().is_empty());
    }
}
