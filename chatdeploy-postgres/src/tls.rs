//! TLS to PostgreSQL with rustls (ring provider), following libpq's
//! `sslmode` semantics.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::BoxError;
use crate::error::OpenStoreError;

/// Whether and how the connection is encrypted: libpq's `sslmode`, read
/// from the connection string (`?sslmode=verify-full`) or set with
/// [`TlsSettings`].
///
/// As in libpq, only `verify-ca` and `verify-full` check the server's
/// certificate; `prefer` and `require` encrypt but would accept an
/// impostor's certificate. Use `verify-full` across any network you do not
/// control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP, never TLS.
    Disable,
    /// TLS when the server offers it, plain TCP otherwise; the certificate
    /// is not checked. libpq's (and this crate's) default.
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, and the certificate must be signed by a trusted root (the
    /// host name is not checked).
    VerifyCa,
    /// TLS, the certificate must be signed by a trusted root and name the
    /// host connected to.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate chain is checked.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }

    /// tokio-postgres's mode: it only knows whether TLS is off, optional
    /// or required; verification is the connector's business.
    pub(crate) fn for_tokio_postgres(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = OpenStoreError;

    /// Reads libpq's spelling. `allow` (plain first, TLS as a fallback) is
    /// not supported: use `prefer`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(OpenStoreError::InvalidSetting {
                setting: "sslmode",
                detail: format!(
                    "`{other}` is not supported; use disable, prefer, require, verify-ca or verify-full"
                ),
            }),
        }
    }
}

/// TLS settings that override the connection string's `sslmode` and
/// `sslrootcert` (see
/// [`PostgresStoreBuilder::with_tls`](crate::PostgresStoreBuilder::with_tls)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    mode: SslMode,
    root_certificates: Option<PathBuf>,
}

impl TlsSettings {
    /// Settings with this mode and the system's trusted roots.
    pub fn new(mode: SslMode) -> Self {
        Self {
            mode,
            root_certificates: None,
        }
    }

    /// Trusts only the certificates in this PEM file (libpq's
    /// `sslrootcert`) for `verify-ca` and `verify-full`, instead of the
    /// system's roots.
    #[must_use]
    pub fn with_root_certificates(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.root_certificates = Some(pem_file.into());
        self
    }

    /// The mode.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// The PEM file of trusted roots, if one is set.
    pub fn root_certificates(&self) -> Option<&Path> {
        self.root_certificates.as_deref()
    }

    /// The rustls connector for these settings. With `disable` it is never
    /// used, but tokio-postgres still wants one.
    pub(crate) fn connector(
        &self,
    ) -> Result<tokio_postgres_rustls::MakeRustlsConnect, OpenStoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("rustls refused its default protocol versions", e))?;
        let config = match self.mode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider }))
                .with_no_client_auth(),
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| tls_error("cannot build the certificate verifier", e))?;
                if self.mode == SslMode::VerifyFull {
                    builder.with_webpki_verifier(webpki).with_no_client_auth()
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyName { webpki }))
                        .with_no_client_auth()
                }
            }
        };
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, OpenStoreError> {
        let mut roots = RootCertStore::empty();
        match &self.root_certificates {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| {
                        tls_error(
                            &format!(
                                "cannot read the trusted root certificates (sslrootcert) {}",
                                path.display()
                            ),
                            e,
                        )
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(OpenStoreError::Tls {
                        detail: format!(
                            "{} (sslrootcert) holds no usable PEM certificate; point sslrootcert at \
                             the CA certificate that signed the server's",
                            path.display()
                        ),
                        source: None,
                    });
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(OpenStoreError::Tls {
                        detail: format!(
                            "sslmode={} needs trusted root certificates and the system has none \
                             readable; set sslrootcert=/path/to/ca.pem in the connection string",
                            self.mode
                        ),
                        source: None,
                    });
                }
            }
        }
        Ok(roots)
    }
}

fn tls_error(what: &str, source: impl Into<BoxError>) -> OpenStoreError {
    let source = source.into();
    OpenStoreError::Tls {
        detail: format!("{what}: {source}"),
        source: Some(source),
    }
}

/// `prefer` and `require`: any certificate, but the handshake signatures
/// are still checked (the session is encrypted to whoever answered).
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct AnyName {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_round_trips_through_its_libpq_spelling() {
        for mode in [
            SslMode::Disable,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(mode.as_str().parse::<SslMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_str());
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn unsupported_sslmodes_are_refused_with_the_choices() {
        for text in ["allow", "VERIFY-FULL", "", "true"] {
            let error = text.parse::<SslMode>().unwrap_err().to_string();
            assert!(error.contains("sslmode"), "{error}");
            assert!(
                error.contains("disable, prefer, require, verify-ca or verify-full"),
                "{error}"
            );
        }
    }

    #[test]
    fn only_the_verify_modes_check_certificates_and_all_map_to_tokio_postgres() {
        use tokio_postgres::config::SslMode as Tp;
        assert_eq!(SslMode::Disable.for_tokio_postgres(), Tp::Disable);
        assert_eq!(SslMode::Prefer.for_tokio_postgres(), Tp::Prefer);
        for mode in [SslMode::Require, SslMode::VerifyCa, SslMode::VerifyFull] {
            assert_eq!(mode.for_tokio_postgres(), Tp::Require);
        }
        assert!(!SslMode::Require.verifies_certificate());
        assert!(SslMode::VerifyCa.verifies_certificate());
        assert!(SslMode::VerifyFull.verifies_certificate());
    }

    #[test]
    fn connectors_build_for_the_unverified_modes() {
        for mode in [SslMode::Disable, SslMode::Prefer, SslMode::Require] {
            TlsSettings::new(mode).connector().unwrap();
        }
    }

    #[test]
    fn a_missing_or_empty_root_file_is_a_clear_error() {
        let error = TlsSettings::new(SslMode::VerifyFull)
            .with_root_certificates("/nonexistent/ca.pem")
            .connector()
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        assert!(error.contains("sslrootcert"), "{error}");

        let dir = std::env::temp_dir().join(format!("chatdeploy-pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = TlsSettings::new(SslMode::VerifyCa)
            .with_root_certificates(&empty)
            .connector()
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("no usable PEM certificate"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
