//! The HTTP client every SDK client of this crate uses.

use aws_sdk_ssm::config::SharedHttpClient;
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
