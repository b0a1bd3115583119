//! Document operations: `CreateDocument`, `DescribeDocument`, `GetDocument`.

use serde_json::{Value, json};

use super::document::Document;
use super::ops::{State, required, text};
use super::wire::{WireError, document_description, epoch};

impl State {
    fn document(&self, body: &Value) -> Result<&Document, WireError> {
        let name = required(body, "Name")?;
        self.documents.get(name).ok_or_else(|| {
            WireError::client(
                "InvalidDocument",
                format!("Document with name {name} does not exist."),
            )
        })
    }

    /// CreateDocument.
    pub(crate) fn create_document(&mut self, body: &Value) -> Result<Value, WireError> {
        let name = required(body, "Name")?;
        let content = required(body, "Content")?;
        if self.documents.contains_key(name) {
            return Err(WireError::client(
                "DocumentAlreadyExists",
                "Document with same name already exists",
            ));
        }
        let format = text(body, "DocumentFormat").unwrap_or("JSON");
        let kind = text(body, "DocumentType").unwrap_or("Command");
        let doc = Document::parse(name, content, Some(format), kind)?;
        let description = document_description(&doc);
        self.documents.insert(name.to_owned(), doc);
        Ok(json!({ "DocumentDescription": description }))
    }

    /// DescribeDocument.
    pub(crate) fn describe_document(&self, body: &Value) -> Result<Value, WireError> {
        Ok(json!({ "Document": document_description(self.document(body)?) }))
    }

    /// GetDocument: the content as it was created, or converted when the
    /// other format is asked for.
    pub(crate) fn get_document(&self, body: &Value) -> Result<Value, WireError> {
        let doc = self.document(body)?;
        let bad_version = |v: &str| {
            WireError::client(
                "InvalidDocumentVersion",
                format!("The document version {v} is not valid or does not exist."),
            )
        };
        // Every emulated document has one version, "1", and no version name.
        if let Some(v) =
            text(body, "DocumentVersion").filter(|v| !matches!(*v, "1" | "$LATEST" | "$DEFAULT"))
        {
            return Err(bad_version(v));
        }
        if let Some(v) = text(body, "VersionName") {
            return Err(bad_version(v));
        }
        let format = text(body, "DocumentFormat").unwrap_or(&doc.format);
        let content = convert(doc, format)?;
        Ok(json!({
            "Name": doc.name,
            "CreatedDate": epoch(doc.created),
            "DocumentVersion": "1",
            "Status": "Active",
            "Content": content,
            "DocumentType": doc.document_type,
            "DocumentFormat": format,
        }))
    }
}

/// The document's content in `format` (`JSON` or `YAML`).
fn convert(doc: &Document, format: &str) -> Result<String, WireError> {
    if format == doc.format {
        return Ok(doc.content.clone());
    }
    let broken = |e: String| WireError::internal(format!("cannot convert {}: {e}", doc.name));
    let value: Value = match doc.format.as_str() {
        "YAML" => serde_yaml::from_str(&doc.content).map_err(|e| broken(e.to_string()))?,
        _ => serde_json::from_str(&doc.content).map_err(|e| broken(e.to_string()))?,
    };
    match format {
        "JSON" => serde_json::to_string_pretty(&value).map_err(|e| broken(e.to_string())),
        "YAML" => serde_yaml::to_string(&value).map_err(|e| broken(e.to_string())),
        other => Err(WireError::client(
            "ValidationException",
            format!(
                "DocumentFormat {other} is not supported for documents of type {}",
                doc.document_type
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str =
        "schemaVersion: '0.3'\nmainSteps:\n  - name: Run\n    action: aws:runCommand\n";

    #[test]
    fn content_comes_back_as_created_or_converted() {
        let mut state = State::default();
        let doc = Document::parse("D", YAML, None, "Automation").unwrap();
        state.documents.insert("D".into(), doc);
        let same = state.get_document(&json!({"Name": "D"})).unwrap();
        assert_eq!(same["Content"], YAML);
        assert_eq!(same["DocumentFormat"], "YAML");
        let json = state
            .get_document(&json!({"Name": "D", "DocumentFormat": "JSON"}))
            .unwrap();
        let parsed: Value = serde_json::from_str(json["Content"].as_str().unwrap()).unwrap();
        assert_eq!(parsed["mainSteps"][0]["name"], "Run");
        assert_eq!(json["DocumentFormat"], "JSON");
        let back =
            Document::parse("E", json["Content"].as_str().unwrap(), None, "Automation").unwrap();
        let yaml = convert(&back, "YAML").unwrap();
        assert!(yaml.contains("schemaVersion: '0.3'"), "{yaml}");
        let kind = |body: Value| state.get_document(&body).unwrap_err().kind;
        assert_eq!(kind(json!({"Name": "Nope"})), "InvalidDocument");
        assert_eq!(
            kind(json!({"Name": "D", "DocumentVersion": "2"})),
            "InvalidDocumentVersion"
        );
        assert!(
            state
                .get_document(&json!({"Name": "D", "DocumentVersion": "$LATEST"}))
                .is_ok()
        );
    }
}
