//! Gateway end-to-end tests: a real Keel (in-process) in front of the
//! fault-injecting fake upstream, driven over HTTP.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod harness;

mod attempts;
mod bedrock;
mod chat;
mod claude;
mod errors;
mod gemini;
mod governance;
mod governance_upkeep;
mod messages;
mod streams;
mod surface;
