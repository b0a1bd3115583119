//! The slack-morphism Web API client, built with ring (never aws-lc) and
//! able to talk plain `http://` to a loopback fake.

use std::sync::Arc;

use hyper_rustls::HttpsConnectorBuilder;
use slack_morphism::prelude::{SlackClient, SlackClientHyperConnector};

/// Slack's Web API base URL.
pub const SLACK_API_URL: &str = "https://slack.com/api";

pub(crate) type HyperConnector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;
pub(crate) type Client = SlackClient<HyperConnector>;

/// Why a Slack client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No token was given (`with_token`, or `SLACK_BOT_TOKEN` for `from_env`).
    #[error("no Slack token: set {0}")]
    MissingToken(&'static str),
    /// The TLS set-up failed (e.g. the system's root certificates are unreadable).
    #[error("TLS set-up for the Slack client failed")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client config with ring and the system's roots (for `wss://`).
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, BuildError> {
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(loaded.certs);
    let config = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client for `api_url` (`https://…`, or `http://…` for a loopback fake).
pub(crate) fn build(api_url: &str) -> Result<Client, BuildError> {
    let api_url = api_url.trim_end_matches('/');
    let https = if api_url.starts_with("http://") {
        // Plain HTTP to a fake: no roots needed, TLS never used.
        let config = rustls::ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError::Tls(Box::new(e)))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build()
    } else {
        HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(ring())
            .map_err(|e| BuildError::Tls(Box::new(e)))?
            .https_only()
            .enable_http1()
            .enable_http2()
            .build()
    };
    let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
    Ok(SlackClient::new(connector))
}
