//! awsJson 1.1 shapes as botocore's SSM model defines them: member names,
//! timestamps as epoch seconds, members left out rather than `null`, and
//! error bodies `{"__type": …, "message": …}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::document::Document;

/// The content type of every request and response.
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The account the emulator pretends to be.
pub(crate) const ACCOUNT: &str = "123456789012";

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) status: u16,
    /// The `__type`: the model's error shape name.
    pub(crate) kind: String,
    pub(crate) message: String,
}

impl WireError {
    /// A 400 with the given error shape.
    pub(crate) fn client(kind: &str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            kind: kind.to_owned(),
            message: message.into(),
        }
    }

    /// A 500 `InternalServerError`.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            kind: "InternalServerError".to_owned(),
            message: message.into(),
        }
    }
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": self.kind, "message": self.message }).to_string();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        json_response(status, body)
    }
}

/// A JSON body with SSM's content type and a request ID.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

/// A timestamp as awsJson sends it: epoch seconds with a fraction.
pub(crate) fn epoch(time: DateTime<Utc>) -> Value {
    json!(time.timestamp_millis() as f64 / 1000.0)
}

/// Inserts `value` under `key` only when there is one.
pub(crate) fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value);
    }
}

/// A `DocumentDescription` shape.
pub(crate) fn document_description(doc: &Document) -> Value {
    let mut out = Map::new();
    out.insert("Hash".into(), json!(doc.hash));
    out.insert("HashType".into(), json!("Sha256"));
    out.insert("Name".into(), json!(doc.name));
    out.insert("Owner".into(), json!(ACCOUNT));
    out.insert("CreatedDate".into(), epoch(doc.created));
    out.insert("Status".into(), json!("Active"));
    out.insert("DocumentVersion".into(), json!("1"));
    put(
        &mut out,
        "Description",
        doc.description.clone().map(Value::from),
    );
    let parameters: Vec<Value> = doc
        .parameters
        .iter()
        .map(|p| {
            let mut param = Map::new();
            param.insert("Name".into(), json!(p.name));
            param.insert("Type".into(), json!(p.kind));
            put(
                &mut param,
                "Description",
                p.description.clone().map(Value::from),
            );
            put(
                &mut param,
                "DefaultValue",
                p.default.clone().map(Value::from),
            );
            Value::Object(param)
        })
        .collect();
    out.insert("Parameters".into(), Value::Array(parameters));
    out.insert("PlatformTypes".into(), json!(["Windows", "Linux", "MacOS"]));
    out.insert("DocumentType".into(), json!(doc.document_type));
    out.insert("SchemaVersion".into(), json!("0.3"));
    out.insert("LatestVersion".into(), json!("1"));
    out.insert("DefaultVersion".into(), json!("1"));
    out.insert("DocumentFormat".into(), json!(doc.format));
    out.insert("Tags".into(), json!([]));
    Value::Object(out)
}
