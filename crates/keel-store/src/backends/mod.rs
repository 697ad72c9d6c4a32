//! The store backends. Both run the same SQL shapes through one macro, so a
//! query is written once; only connection setup and DDL differ.

mod attempt_list;
#[macro_use]
mod common;
#[macro_use]
mod directory;
mod directory_json;
pub mod postgres;
pub mod sqlite;
