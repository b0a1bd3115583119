//! Signed `event_callback` / `app_mention` requests, built per request from
//! precomputed parts.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// One request's signed parts.
#[derive(Debug)]
pub(crate) struct Signed {
    /// `X-Slack-Request-Timestamp`.
    pub(crate) timestamp: String,
    /// `X-Slack-Signature`: `v0=` and the hex HMAC-SHA256 of `v0:{ts}:{body}`.
    pub(crate) signature: String,
    /// The JSON envelope.
    pub(crate) body: Bytes,
}

/// Builds and signs the requests of one connection.
#[derive(Debug)]
pub(crate) struct Signer {
    /// Keyed once; cloned per request.
    mac: HmacSha256,
    /// The mention text, already a JSON string literal.
    text_json: String,
    /// Distinguishes this run's event IDs from earlier runs' (for receivers that dedupe).
    tag: u32,
    conn: usize,
    seq: u64,
    /// The current second and its decimal form (the timestamp is fixed per second).
    secs: u64,
    ts: String,
    /// The size of the last body, to allocate the next one once.
    capacity: usize,
}

/// A tag for this run: the start time in seconds, so IDs differ between runs.
pub(crate) fn run_tag() -> u32 {
    let secs = unix_secs();
    u32::try_from(secs % (1u64 << 32)).unwrap_or(0)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Signer {
    /// A signer for connection `conn` of the run tagged `tag`.
    pub(crate) fn new(
        secret: &str,
        text: &str,
        tag: u32,
        conn: usize,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            mac: HmacSha256::new_from_slice(secret.as_bytes())?,
            text_json: serde_json::to_string(text)?,
            tag,
            conn,
            seq: 0,
            secs: 0,
            ts: String::new(),
            capacity: 512,
        })
    }

    /// The next request: a fresh `event_id`, the current timestamp, signed.
    pub(crate) fn next(&mut self) -> Signed {
        let now = unix_secs();
        if now != self.secs {
            self.secs = now;
            self.ts = now.to_string();
        }
        self.seq += 1;
        let (secs, micros) = (self.secs, self.seq % 1_000_000);
        let mut body = String::with_capacity(self.capacity);
        // Writing into a String cannot fail.
        let _ = write!(
            body,
            concat!(
                r#"{{"token":"bench-verification-token","team_id":"T0BENCH","api_app_id":"A0BENCH","#,
                r#""event":{{"type":"app_mention","user":"U0USER","text":{text},"ts":"{secs}.{micros:06}","#,
                r#""channel":"C0BENCH","event_ts":"{secs}.{micros:06}"}},"#,
                r#""type":"event_callback","event_id":"Ev{tag:08X}{conn:03}{seq:09}","event_time":{secs},"#,
                r#""authorizations":[{{"enterprise_id":null,"team_id":"T0BENCH","user_id":"U0BOT","#,
                r#""is_bot":true,"is_enterprise_install":false}}],"#,
                r#""is_ext_shared_channel":false,"event_context":"4-bench"}}"#
            ),
            text = self.text_json,
            secs = secs,
            micros = micros,
            tag = self.tag,
            conn = self.conn,
            seq = self.seq,
        );
        self.capacity = body.len();
        let mut mac = self.mac.clone();
        mac.update(b"v0:");
        mac.update(self.ts.as_bytes());
        mac.update(b":");
        mac.update(body.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut signature = String::with_capacity(3 + 2 * digest.len());
        signature.push_str("v0=");
        for byte in digest {
            let _ = write!(signature, "{byte:02x}");
        }
        Signed {
            timestamp: self.ts.clone(),
            signature,
            body: Bytes::from(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_slack_and_varies_event_id() {
        let mut signer = Signer::new("secret", "<@U0BOT> status", 7, 3).expect("signer");
        let a = signer.next();
        let b = signer.next();
        let va: serde_json::Value = serde_json::from_slice(&a.body).expect("json");
        let vb: serde_json::Value = serde_json::from_slice(&b.body).expect("json");
        assert_eq!(va["type"], "event_callback");
        assert_eq!(va["event"]["type"], "app_mention");
        assert_eq!(va["event"]["text"], "<@U0BOT> status");
        assert_eq!(va["event_id"], "Ev00000007003000000001");
        assert_ne!(va["event_id"], vb["event_id"]);
        let mut mac = HmacSha256::new_from_slice(b"secret").expect("key");
        mac.update(format!("v0:{}:", a.timestamp).as_bytes());
        mac.update(&a.body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a.signature, format!("v0={hex}"));
    }
}
