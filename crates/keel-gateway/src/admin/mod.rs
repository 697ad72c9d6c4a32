//! The admin API under `/admin/v1`: teams, users, virtual keys, budgets,
//! spend, the admin audit and the invocation log, as JSON. The `keel` CLI is
//! a client of it. Every request is authenticated like a data-plane call
//! and checked against the caller's role ([`keel_policy::rbac`]); every
//! write is stored with its audit entry in one transaction and reloads this
//! node's directory before answering (other nodes follow within
//! `governance.refresh_ms`). Documented in `docs/reference/admin-api.md`.

mod context;
mod input;
mod keys;
mod reports;
mod teams;
mod users;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;

use crate::state::AppState;

pub use context::Admin;

/// The admin routes, to be nested under `/admin/v1`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/whoami", get(context::whoami))
        .route("/teams", post(teams::create).get(teams::list))
        .route("/teams/{team}", get(teams::show).patch(teams::update))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{user}", get(users::show).patch(users::update))
        .route("/keys", post(keys::create).get(keys::list))
        .route("/keys/{key}", get(keys::show).patch(keys::update))
        .route("/keys/{key}/rotate", post(keys::rotate))
        .route("/keys/{key}/revoke", post(keys::revoke))
        .route("/budgets", get(reports::budgets))
        .route("/budgets/models/{model}", put(reports::set_model_budget))
        .route("/spend", get(reports::spend))
        .route("/audit", get(reports::audit))
        .route("/invocations", get(reports::invocations))
        .route("/invocations/{id}", get(reports::invocation))
}
