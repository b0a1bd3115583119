//! Placeholder: replaced by the command parser.
#![allow(missing_docs, unreachable_pub)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("placeholder")]
pub struct ParseCommandError;
pub fn parse(_text: &str) -> Result<Command, ParseCommandError> {
    let _ = crate::suggest::did_you_mean("", []);
    Err(ParseCommandError)
}
