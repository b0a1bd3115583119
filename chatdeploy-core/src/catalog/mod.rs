//! Placeholder: replaced by the catalog.
#![allow(missing_docs, unreachable_pub)]
#[derive(Debug)]
pub struct Catalog;
#[derive(Debug)]
pub struct Service;
#[derive(Debug, thiserror::Error)]
#[error("placeholder")]
pub struct LoadCatalogError;
