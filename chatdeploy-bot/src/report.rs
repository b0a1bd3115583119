//! Lines for a person on stdout or stderr. A closed pipe (`chatdeploy check
//! | head -1`) ends the output quietly instead of panicking as `println!`
//! does.

use std::io::Write;

/// Writes `text` and a newline to stdout; errors (a closed pipe) are
/// ignored: the reader has gone.
pub(crate) fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// Writes `text` and a newline to stderr, ignoring errors as [`line`].
pub(crate) fn error_line(text: &str) {
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "{text}");
}
