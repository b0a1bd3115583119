//! The HTTP client every SDK client of this crate uses.

use std::time::Duration;

use aws_sdk_ssm::config::SharedHttpClient;
use aws_sdk_ssm::config::timeout::TimeoutConfig;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// An HTTPS (and plain HTTP, for loopback emulators) client on rustls with
/// the ring crypto provider.
///
/// The SDK's default client would pull in aws-lc (a C and assembly build);
/// chatdeploy uses ring everywhere, like the Slack adapter.
pub fn https_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The timeouts every SDK client of this crate uses: a call that hangs
/// fails and is retried instead of holding its turn forever.
///
/// Connect 3 s, each attempt 20 s, the whole call with its retries 60 s.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}
