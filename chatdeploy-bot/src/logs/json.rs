//! One JSON object per log line, with the event's fields as JSON values;
//! an audit record (target `chatdeploy::audit`) is embedded as an object,
//! not as a string of JSON.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON line format.
pub(super) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", line(event, chrono::Utc::now()))
    }
}

/// The JSON object for `event`, logged at `at`.
fn line(event: &Event<'_>, at: chrono::DateTime<chrono::Utc>) -> Value {
    let meta = event.metadata();
    let mut fields = Map::new();
    event.record(&mut Fields(&mut fields));
    if meta.target() == "chatdeploy::audit"
        && let Some(Value::String(record)) = fields.get("record")
        && let Ok(object) = serde_json::from_str::<Value>(record)
    {
        fields.insert("record".to_owned(), object);
    }
    let mut line = Map::new();
    line.insert(
        "timestamp".to_owned(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    line.insert("level".to_owned(), meta.level().as_str().into());
    line.insert("target".to_owned(), meta.target().into());
    if let Some(message) = fields.remove("message") {
        line.insert("message".to_owned(), message);
    }
    line.insert("fields".to_owned(), Value::Object(fields));
    Value::Object(line)
}

/// Collects an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(
            field.name().to_owned(),
            crate::error::sentence(value).into(),
        );
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn every_line_is_json_and_an_audit_record_is_an_object() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(resumed = 2_u64, bot = %"U1", "chatdeploy is running");
            tracing::info!(target: "chatdeploy::audit", action = ?"Requested", record = %r#"{"action":"requested","actor":"U1"}"#, "audit");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "chatdeploy is running");
        assert_eq!(lines[0]["fields"]["resumed"], 2);
        assert_eq!(lines[0]["fields"]["bot"], "U1");
        assert_eq!(lines[1]["fields"]["record"]["action"], "requested");
        assert_eq!(lines[1]["fields"]["record"]["actor"], "U1");
    }
}
