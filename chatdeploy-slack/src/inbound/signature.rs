//! Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{body}` with
//! the app's signing secret, within five minutes of the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// How far a request's timestamp may be from the clock.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `X-Slack-Request-Timestamp` or `X-Slack-Signature` is missing.
    #[error("the request has no Slack signature headers")]
    Missing,
    /// The timestamp is not a number or is more than five minutes away.
    #[error("the request's timestamp is malformed or outside the five-minute window")]
    Stale,
    /// The signature does not match the body.
    #[error("the request's signature does not match")]
    Mismatch,
}

/// Verifies Slack's request signatures with one app's signing secret.
#[derive(Clone)]
pub struct SignatureVerifier {
    keyed: HmacSha256,
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureVerifier").finish_non_exhaustive()
    }
}

impl SignatureVerifier {
    /// A verifier for `signing_secret` (Basic Information → Signing Secret).
    pub fn new(signing_secret: &str) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(signing_secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { keyed }
    }

    /// Verifies against the system clock.
    ///
    /// # Errors
    ///
    /// [`SignatureError`] when a header is missing, the timestamp is stale or
    /// the signature does not match.
    pub fn verify(
        &self,
        timestamp: Option<&[u8]>,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verify_at(now, timestamp, signature, body)
    }

    /// Verifies against `now` (seconds since the Unix epoch). Allocates
    /// nothing; the comparison is constant-time.
    ///
    /// # Errors
    ///
    /// See [`SignatureVerifier::verify`].
    pub fn verify_at(
        &self,
        now: u64,
        timestamp: Option<&[u8]>,
        signature: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts = parse_u64(timestamp).ok_or(SignatureError::Stale)?;
        if now.abs_diff(ts) > MAX_SKEW.as_secs() {
            return Err(SignatureError::Stale);
        }
        let hex = signature
            .strip_prefix(b"v0=")
            .ok_or(SignatureError::Mismatch)?;
        let expected = decode_hex32(hex).ok_or(SignatureError::Mismatch)?;
        let mut mac = self.keyed.clone();
        mac.update(b"v0:");
        mac.update(timestamp);
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// The `X-Slack-Signature` value for `timestamp` and `body` (for fakes
    /// and tests that sign requests like Slack does).
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(format!("v0:{timestamp}:").as_bytes());
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Each byte's value as a hex digit, or 0xff. A table rather than the `hex`
/// crate's per-digit matching: this runs once per inbound request. Decoding
/// the *received* signature leaks nothing; the comparison with the computed
/// MAC is the constant-time part.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xff_u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    let hex: &[u8; 64] = hex.try_into().ok()?;
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (
            HEX_DIGIT[usize::from(pair[0])],
            HEX_DIGIT[usize::from(pair[1])],
        );
        invalid |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid == 0).then_some(out)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_decode_in_either_case_and_nothing_else_does() {
        let lower = "00ff10a0b1c2d3e4f5061728394a5b6c7d8e9fabcdef0123456789abcdef0123";
        let decoded = decode_hex32(lower.as_bytes()).unwrap();
        assert_eq!(decoded[..4], [0x00, 0xff, 0x10, 0xa0]);
        assert_eq!(decoded[31], 0x23);
        assert_eq!(decode_hex32(lower.to_uppercase().as_bytes()), Some(decoded));
        for bad in [
            &lower[..62],
            &format!("{lower}00"),
            &format!("g{}", &lower[1..]),
            &format!("{} ", &lower[..63]),
            &format!("{}\u{e9}", &lower[..62]),
        ] {
            assert_eq!(decode_hex32(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_signed_body_verifies_and_a_changed_one_does_not() {
        let verifier = SignatureVerifier::new("secret");
        let sig = verifier.sign(1_700_000_000, b"body");
        let ts = b"1700000000".as_slice();
        assert_eq!(
            verifier.verify_at(1_700_000_000, Some(ts), Some(sig.as_bytes()), b"body"),
            Ok(())
        );
        assert_eq!(
            verifier.verify_at(1_700_000_000, Some(ts), Some(sig.as_bytes()), b"bodY"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier.verify_at(
                1_700_000_000,
                Some(ts),
                Some(sig.to_uppercase().as_bytes()),
                b"body"
            ),
            Err(SignatureError::Mismatch),
            "the V0= prefix is case-sensitive"
        );
    }
}
