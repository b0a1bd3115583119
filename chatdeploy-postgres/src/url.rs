//! Reading a connection string: the parameters tokio-postgres does not know
//! (`sslmode=verify-ca`/`verify-full`, `sslrootcert`) are taken out here;
//! everything else is left to [`tokio_postgres::Config`].
//!
//! Both libpq forms are accepted: a URL (`postgres://user:pw@host:5432/db?
//! sslmode=verify-full`) and key/value pairs (`host=db user=bot
//! sslmode=require`). Errors never repeat the string, which may hold a
//! password.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::OpenStoreError;
use crate::tls::SslMode;

/// A connection string split into what tokio-postgres parses and the TLS
/// settings chatdeploy handles itself.
#[derive(Debug)]
pub(crate) struct ParsedUrl {
    /// The tokio-postgres configuration (its `sslmode` not yet set).
    pub(crate) config: tokio_postgres::Config,
    /// `sslmode`, when given.
    pub(crate) ssl_mode: Option<SslMode>,
    /// `sslrootcert`, when given.
    pub(crate) root_cert: Option<PathBuf>,
}

/// Splits `url` (see the module documentation).
pub(crate) fn parse(url: &str) -> Result<ParsedUrl, OpenStoreError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(invalid("the connection string is empty", None));
    }
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (rest, params) = if is_url {
        split_url(url)?
    } else {
        split_key_values(url)?
    };
    let mut ssl_mode = None;
    let mut root_cert = None;
    for (key, value) in params {
        match key.as_str() {
            "sslmode" => ssl_mode = Some(SslMode::from_str(&value)?),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => {}
        }
    }
    let config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
        invalid(
            &format!("it cannot be read ({})", crate::error::chain(&e)),
            Some(Box::new(e)),
        )
    })?;
    Ok(ParsedUrl {
        config,
        ssl_mode,
        root_cert,
    })
}

/// The parameters handled here rather than by tokio-postgres.
fn ours(key: &str) -> bool {
    matches!(key, "sslmode" | "sslrootcert")
}

fn invalid(detail: &str, source: Option<crate::BoxError>) -> OpenStoreError {
    OpenStoreError::InvalidUrl {
        detail: detail.to_owned(),
        source,
    }
}

/// A URL without our query parameters, and those parameters (decoded).
fn split_url(url: &str) -> Result<(String, Vec<(String, String)>), OpenStoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        if ours(&key) {
            taken.push((key, percent_decode(value)?));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

/// `%XX` escapes (and nothing else: `+` stays a plus, as in libpq).
fn percent_decode(text: &str) -> Result<String, OpenStoreError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("a query parameter has a malformed %-escape", None))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("a query parameter is not UTF-8 once decoded", None))
}

/// Key/value pairs without ours (each kept pair exactly as written), and
/// ours (unquoted).
fn split_key_values(text: &str) -> Result<(String, Vec<(String, String)>), OpenStoreError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut taken = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(invalid(
                &format!("`{key}` in the connection string has no `=` and no value"),
                None,
            ));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => break,
                    },
                    Some((_, '\'')) => break,
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(invalid(
                            &format!("the value of `{key}` has no closing quote"),
                            None,
                        ));
                    }
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        if ours(&key) {
            taken.push((key, value));
        } else {
            kept.push(&text[start..end]);
        }
    }
    Ok((kept.join(" "), taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_without_tls_settings_is_left_alone() {
        let parsed = parse("postgres://bot:secret@127.0.0.1:5433/chatdeploy").unwrap();
        assert_eq!(parsed.ssl_mode, None);
        assert_eq!(parsed.root_cert, None);
        assert_eq!(parsed.config.get_user(), Some("bot"));
        assert_eq!(parsed.config.get_dbname(), Some("chatdeploy"));
        assert_eq!(parsed.config.get_ports(), [5433]);
    }

    #[test]
    fn every_sslmode_is_read_from_a_url() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let parsed = parse(&format!(
                "postgresql://bot@db.example.com/chatdeploy?application_name=x&sslmode={text}"
            ))
            .unwrap();
            assert_eq!(parsed.ssl_mode, Some(mode), "{text}");
            assert_eq!(parsed.config.get_application_name(), Some("x"));
        }
    }

    #[test]
    fn sslrootcert_is_taken_out_and_decoded() {
        let parsed = parse(
            "postgres://bot@db/chatdeploy?sslrootcert=%2Fetc%2Fca%20dir%2Froot.pem&sslmode=verify-full&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            parsed.root_cert,
            Some(PathBuf::from("/etc/ca dir/root.pem"))
        );
        assert_eq!(parsed.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(
            parsed.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
    }

    #[test]
    fn key_value_strings_are_read_too() {
        let parsed = parse(
            "host=127.0.0.1 port = 5433 user=bot password='it\\'s secret' sslmode=verify-ca sslrootcert='/tmp/my ca.pem' dbname=x",
        )
        .unwrap();
        assert_eq!(parsed.ssl_mode, Some(SslMode::VerifyCa));
        assert_eq!(parsed.root_cert, Some(PathBuf::from("/tmp/my ca.pem")));
        assert_eq!(parsed.config.get_dbname(), Some("x"));
        assert_eq!(parsed.config.get_ports(), [5433]);
    }

    #[test]
    fn an_unknown_sslmode_is_refused_with_the_accepted_values() {
        let error = parse("postgres://bot:hunter2@db/x?sslmode=verify_full").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("verify_full"), "{text}");
        assert!(text.contains("verify-full"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn errors_do_not_repeat_the_password() {
        for url in [
            "postgres://bot:hunter2@db:notaport/x",
            "postgres://bot:hunter2@db/x?bogus_option=1",
            "host=db password=hunter2 sslmode",
            "",
        ] {
            let text = parse(url).unwrap_err().to_string();
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("connection string"), "{text}");
        }
    }
}
