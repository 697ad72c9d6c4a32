//! Gateway end-to-end tests: a real Keel (in-process) in front of the
//! fault-injecting fake upstream, driven over HTTP.

#![allow(clippy::disallowed_methods)]

mod harness;

mod chat;
mod errors;
mod streams;
mod surface;
