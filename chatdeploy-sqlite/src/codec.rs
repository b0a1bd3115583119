//! How values are stored: records as JSON beside their indexed columns,
//! times as integer nanoseconds since the Unix epoch.

use chatdeploy_core::state::DeploymentRecord;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, OpError};

/// A time as nanoseconds since the epoch, saturating outside the years
/// 1677 to 2262 (order is kept).
pub(crate) fn nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// A revision as SQLite's signed integer.
pub(crate) fn to_i64(value: u64) -> Result<i64, OpError> {
    i64::try_from(value).map_err(|_| OpError::Range(format!("{value} does not fit in SQLite")))
}

/// A record as JSON.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(OpError::Encode)
}

/// A stored JSON record; `what` and `key` name it in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    what: &'static str,
    key: &str,
    json: &str,
) -> Result<T, OpError> {
    serde_json::from_str(json).map_err(|source| {
        OpError::Decode(DecodeError {
            what,
            key: key.to_owned(),
            source,
        })
    })
}

/// Runs a query whose first column is a JSON record and decodes every row.
pub(crate) fn decode_rows<T: serde::de::DeserializeOwned>(
    conn: &rusqlite::Connection,
    what: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, OpError> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement
        .query_map(params, |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter()
        .map(|(json, key)| decode(what, key, json))
        .collect()
}

/// A release's indexed columns and JSON, prepared outside the transaction.
pub(crate) struct DeploymentRow {
    pub(crate) id: String,
    pub(crate) service: String,
    pub(crate) finalized: bool,
    pub(crate) requested_at: i64,
    pub(crate) revision: i64,
    pub(crate) json: String,
}

impl DeploymentRow {
    pub(crate) fn new(record: &DeploymentRecord) -> Result<Self, OpError> {
        Ok(Self {
            id: record.id.to_string(),
            service: record.service.clone(),
            finalized: record.finalized,
            requested_at: nanos(record.requested_at),
            revision: to_i64(record.revision)?,
            json: encode(record)?,
        })
    }
}
