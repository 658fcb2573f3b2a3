//! The cluster information base: Pacemaker's CIB XML, where it is stored, and its versioning.
//!
//! The CIB is kept as an XML element tree ([`xml::Element`]) so that every element and
//! attribute Pacemaker's tools and agents read and write survives untouched; typed views are
//! built on top of it where decisions are made.

pub mod cli;
pub mod diff;
pub mod exit;
pub mod model;
pub mod ops;
pub mod score;
pub mod store;
pub mod validate;
pub mod verify;
pub mod xml;
pub mod xpath;

pub use store::{CibSource, StoreError};
pub use xml::{Element, XmlError};
