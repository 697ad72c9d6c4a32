//! The `keel` binary as an operator runs it: start-up errors, SIGTERM
//! drain, `kill -9` in both durability modes, and `keel logs`.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod crash;
mod process;
mod startup;
