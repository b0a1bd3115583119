//! Inbound Slack traffic: signature verification, redelivery dedupe, and the
//! one translation into core [`ChatEvent`](chatdeploy_core::chat::ChatEvent)s,
//! whose command text is plain text ([`unescape`]).

mod dedupe;
mod signature;
mod translate;
mod unescape;

pub use dedupe::Dedupe;
pub use signature::{MAX_SKEW, SignatureError, SignatureVerifier};
pub use translate::{EventsApiRequest, MalformedPayload, Translator};
pub use unescape::unescape;
