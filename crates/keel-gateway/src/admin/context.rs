//! What every admin request starts from: the caller (authenticated, with
//! its role), where it called from, and how a write is committed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use keel_api::{ApiError, ErrorKind};
use keel_policy::rbac::{Access, Actor, Target};
use keel_store::governance::{AuditEntry, DirectoryWrite};
use keel_store::StoreError;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::json;
use crate::pipeline::identify::{authenticate, Caller};
use crate::state::AppState;

/// An authenticated admin request.
pub struct Admin {
    pub state: Arc<AppState>,
    pub actor: Actor,
    /// `master`, or `key:<id>`: who the audit names.
    pub actor_name: String,
    pub address: Option<String>,
}

/// An admin API error, rendered in the OpenAI error shape.
pub struct AdminError(pub ApiError);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        json(self.0.status(), Bytes::from(self.0.to_json()))
    }
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError(e)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => AdminError(ApiError::new(
                ErrorKind::Conflict,
                format!("That would duplicate an existing name: {message}"),
            )),
            other => {
                tracing::error!(error = %other, "admin request failed in the store");
                AdminError(ApiError::new(
                    ErrorKind::Internal,
                    "the store failed; see the server log",
                ))
            }
        }
    }
}

/// The result of an admin handler.
pub type AdminResult = Result<Response, AdminError>;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, AdminError> {
        let directory = state.governance.directory.snapshot();
        let now_ms = state.governance.ledger.clock().now_ms();
        let caller = authenticate(&parts.headers, &state.master_key, &directory, now_ms)?;
        let (actor, actor_name) = match &caller {
            Caller::Master => (Actor::Admin, "master".to_owned()),
            Caller::Key(entry) => {
                let name = format!("key:{}", entry.key.id);
                let user = entry
                    .key
                    .user_id
                    .as_deref()
                    .and_then(|id| directory.user(id));
                match (entry.principal.admin, user) {
                    (true, _) => (Actor::Admin, name),
                    (false, Some(user)) => (Actor::User(user.clone()), name),
                    (false, None) => {
                        return Err(forbidden("This key belongs to no user and is not an admin key, so it cannot use the admin API."))
                    }
                }
            }
        };
        let address = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip().to_string())
            });
        Ok(Admin {
            state: state.clone(),
            actor,
            actor_name,
            address,
        })
    }
}

/// A 403 for an action outside the caller's role.
pub fn forbidden(message: impl Into<String>) -> AdminError {
    AdminError(ApiError::new(ErrorKind::Forbidden, message).with_code("insufficient_role"))
}

/// A 404 for an unknown team, user or key.
pub fn not_found(what: &str, id: &str) -> AdminError {
    AdminError(
        ApiError::new(ErrorKind::NotFound, format!("No {what} '{id}'.")).with_code("not_found"),
    )
}

/// A 400 naming the field at fault.
pub fn invalid(param: &str, message: impl Into<String>) -> AdminError {
    AdminError(ApiError::invalid(param, message))
}

impl Admin {
    /// Now, by the governance clock (expiries and grace periods use it).
    pub fn now_ms(&self) -> i64 {
        self.state.governance.ledger.clock().now_ms()
    }

    /// Refuses unless the caller may `access` `target`.
    pub fn require(&self, access: Access, target: Target<'_>) -> Result<(), AdminError> {
        if self.actor.may(access, target) {
            return Ok(());
        }
        let what = match access {
            Access::Read => "read",
            Access::Write => "change",
        };
        Err(forbidden(format!(
            "Your role does not allow you to {what} this."
        )))
    }

    /// Stores `write` with its audit entry, then reloads the directory so
    /// the change is in force on this node before the answer goes out.
    pub async fn commit(
        &self,
        action: &str,
        target_kind: &str,
        target_id: &str,
        before: Option<Value>,
        write: DirectoryWrite,
    ) -> Result<(), AdminError> {
        let after = match &write {
            DirectoryWrite::Team(t) => to_value(t),
            DirectoryWrite::User(u) => to_value(u),
            DirectoryWrite::Key(k) => to_value(k),
            DirectoryWrite::ModelBudget(b) => to_value(b),
        };
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: self.now_ms(),
            actor: self.actor_name.clone(),
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.to_owned(),
            before,
            after: Some(after),
            address: self.address.clone(),
        };
        let store = self.state.store.as_ref();
        store.write_directory(&write, &entry).await?;
        self.state.governance.reload(store).await?;
        Ok(())
    }
}

/// A row as JSON (the key rows leave their secret hashes out).
pub fn to_value<T: Serialize>(row: &T) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

/// A JSON answer.
pub fn reply(status: u16, body: &impl Serialize) -> Response {
    json(
        status,
        Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    )
}

/// `GET /whoami`: the caller and its roles.
pub async fn whoami(admin: Admin) -> AdminResult {
    let body = match &admin.actor {
        Actor::Admin => json!({ "actor": admin.actor_name, "admin": true }),
        Actor::User(user) => json!({
            "actor": admin.actor_name,
            "admin": false,
            "user": to_value(user),
        }),
    };
    Ok(reply(200, &body))
}
