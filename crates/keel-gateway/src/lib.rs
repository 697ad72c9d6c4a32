//! Keel's gateway: the HTTP server, the request pipeline from ingress to
//! record, health and metrics. `keel serve` is [`server::run`].

pub mod admin;
pub mod aws_credentials;
pub mod config;
pub mod discovery;
pub mod error;
pub mod governance;
pub mod handlers;
pub mod ingress;
pub mod invocation;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod pricing;
pub mod serve_error;
pub mod server;
pub mod state;
pub mod tasks;
pub mod tokens;
pub mod trace;
