//! `/keys`: virtual keys. The secret is returned once, on create and on
//! rotate; the store keeps only its SHA-256 and a visible prefix.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use bytes::Bytes;
use keel_policy::rbac::{Access, Target};
use keel_policy::secret;
use keel_store::governance::{ApiKey, DirectoryWrite, Limits};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::context::{invalid, not_found, reply, to_value, Admin, AdminError, AdminResult};
use super::input::{apply_limits, duration_ms, expiry, field, name, object};
use super::users::team_id;

const KEY_FIELDS: &[&str] = &[
    "name", "team", "user", "agent", "models", "expires", "tags", "metadata", "admin",
];

/// `POST /keys`. A member may create keys only for themselves (the key is
/// theirs when no `user` is given).
pub async fn create(admin: Admin, body: Bytes) -> AdminResult {
    let map = object(&body, KEY_FIELDS)?;
    let directory = admin.state.governance.directory.snapshot();
    let team = match field::<String>(&map, "team", "a team id or name")? {
        Some(t) => Some(team_id(&directory, &t)?),
        None => None,
    };
    let user = match field::<String>(&map, "user", "a user id or email")? {
        Some(u) => Some(
            directory
                .user(&u)
                .map(|u| u.id.clone())
                .ok_or_else(|| invalid("user", format!("No user '{u}'.")))?,
        ),
        None => admin.actor.user_id().map(str::to_owned),
    };
    let make_admin = field::<bool>(&map, "admin", "true or false")?.unwrap_or(false);
    let target = match make_admin {
        true => Target::Global,
        false => Target::Key {
            team: team.as_deref(),
            user: user.as_deref(),
        },
    };
    admin.require(Access::Write, target)?;
    if let (Some(team), Some(user)) = (&team, &user) {
        let member = directory
            .user(user)
            .is_some_and(|u| u.memberships.contains_key(team));
        if !member {
            return Err(invalid("user", "That user is not in that team."));
        }
    }
    let now = admin.now_ms();
    let fresh = secret::generate();
    let mut key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        name: name(&map, "name")?,
        prefix: fresh.prefix,
        secret_sha256: fresh.sha256,
        previous_sha256: None,
        previous_valid_until_ms: None,
        team_id: team,
        user_id: user,
        agent: None,
        admin: make_admin,
        models: Vec::new(),
        limits: Limits::default(),
        tags: BTreeMap::new(),
        metadata: Value::Null,
        expires_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: now,
        updated_at_ms: now,
    };
    apply_key_fields(&mut key, &map, now)?;
    admin
        .commit(
            "keys.create",
            "key",
            &key.id,
            None,
            DirectoryWrite::Key(key.clone()),
        )
        .await?;
    Ok(reply(201, &with_secret(&key, &fresh.secret)))
}

/// The settable fields shared by create and update.
fn apply_key_fields(
    key: &mut ApiKey,
    map: &Map<String, Value>,
    now: i64,
) -> Result<(), AdminError> {
    if map.contains_key("name") {
        key.name = name(map, "name")?;
    }
    if map.contains_key("agent") {
        key.agent = field(map, "agent", "a string")?;
    }
    if map.contains_key("models") {
        let models: Vec<String> =
            field(map, "models", "a list of model names or patterns")?.unwrap_or_default();
        if models.iter().any(|m| m.trim().is_empty()) {
            return Err(invalid("models", "A model name must not be empty."));
        }
        key.models = models;
    }
    if map.contains_key("expires") {
        key.expires_at_ms =
            match field::<String>(map, "expires", "a duration like 30d or an RFC 3339 time")? {
                None => None,
                Some(text) => Some(expiry(&text, now)?),
            };
    }
    if map.contains_key("tags") {
        key.tags = field(map, "tags", "an object of string values")?.unwrap_or_default();
    }
    if map.contains_key("metadata") {
        key.metadata = field(map, "metadata", "an object")?.unwrap_or(Value::Null);
    }
    key.limits = apply_limits(&key.limits, map)?;
    Ok(())
}

/// The key row with its secret, as create and rotate answer.
fn with_secret(key: &ApiKey, secret: &str) -> Value {
    let mut value = to_value(key);
    if let Value::Object(map) = &mut value {
        map.insert("key".into(), Value::String(secret.to_owned()));
    }
    value
}

/// Filters of `GET /keys`.
#[derive(Deserialize)]
pub struct KeyFilter {
    team: Option<String>,
    user: Option<String>,
    /// Include revoked keys.
    #[serde(default)]
    all: bool,
}

/// `GET /keys`: the keys the caller may read, newest last.
pub async fn list(admin: Admin, Query(filter): Query<KeyFilter>) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let team = filter
        .team
        .as_deref()
        .and_then(|t| directory.team(t))
        .map(|t| t.id.clone());
    let user = filter
        .user
        .as_deref()
        .and_then(|u| directory.user(u))
        .map(|u| u.id.clone());
    let keys: Vec<&ApiKey> = directory
        .source
        .keys
        .iter()
        .filter(|k| filter.all || k.revoked_at_ms.is_none())
        .filter(|k| filter.team.is_none() || k.team_id == team)
        .filter(|k| filter.user.is_none() || k.user_id == user)
        .filter(|k| admin.actor.may(Access::Read, key_target(k)))
        .collect();
    Ok(reply(200, &serde_json::json!({ "data": keys })))
}

/// `GET /keys/{key}` by id or name.
pub async fn show(admin: Admin, Path(key): Path<String>) -> AdminResult {
    let current = find(&admin, &key)?;
    admin.require(Access::Read, key_target(&current))?;
    Ok(reply(200, &current))
}

/// `PATCH /keys/{key}`: name, agent, models, limits, expiry, tags, metadata.
pub async fn update(admin: Admin, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let map = object(
        &body,
        &["name", "agent", "models", "expires", "tags", "metadata"],
    )?;
    let current = find(&admin, &key)?;
    admin.require(Access::Write, key_target(&current))?;
    let now = admin.now_ms();
    let mut next = current.clone();
    apply_key_fields(&mut next, &map, now)?;
    let next = save(&admin, "keys.update", &current, next, now).await?;
    Ok(reply(200, &next))
}

/// `POST /keys/{key}/rotate` `{"grace": "1h"}`: a new secret; the old one
/// keeps working for the grace period (none by default).
pub async fn rotate(admin: Admin, Path(key): Path<String>, body: Bytes) -> AdminResult {
    let map = object(&body, &["grace"])?;
    let current = find(&admin, &key)?;
    admin.require(Access::Write, key_target(&current))?;
    if current.revoked_at_ms.is_some() {
        return Err(invalid("key", "A revoked key cannot be rotated."));
    }
    let grace = match field::<String>(&map, "grace", "a duration like 1h")? {
        None => 0,
        Some(text) => duration_ms(&text).ok_or_else(|| {
            invalid(
                "grace",
                format!("'{text}' is not a duration like 90s, 15m, 1h or 1d."),
            )
        })?,
    };
    let now = admin.now_ms();
    let fresh = secret::generate();
    let mut next = current.clone();
    next.previous_sha256 = (grace > 0).then(|| current.secret_sha256.clone());
    next.previous_valid_until_ms = (grace > 0).then_some(now + grace);
    next.secret_sha256 = fresh.sha256;
    next.prefix = fresh.prefix;
    let next = save(&admin, "keys.rotate", &current, next, now).await?;
    Ok(reply(200, &with_secret(&next, &fresh.secret)))
}

/// `POST /keys/{key}/revoke`: refused from now on, on every node within
/// `governance.refresh_ms`.
pub async fn revoke(admin: Admin, Path(key): Path<String>) -> AdminResult {
    let current = find(&admin, &key)?;
    admin.require(Access::Write, key_target(&current))?;
    let now = admin.now_ms();
    let mut next = current.clone();
    next.revoked_at_ms = Some(current.revoked_at_ms.unwrap_or(now));
    next.previous_sha256 = None;
    next.previous_valid_until_ms = None;
    let next = save(&admin, "keys.revoke", &current, next, now).await?;
    Ok(reply(200, &next))
}

/// Stores `next`, the key `current` changed by `action` at `now`, with its
/// audit entry.
async fn save(
    admin: &Admin,
    action: &str,
    current: &ApiKey,
    mut next: ApiKey,
    now: i64,
) -> Result<ApiKey, AdminError> {
    next.updated_at_ms = now;
    admin
        .commit(
            action,
            "key",
            &next.id,
            Some(to_value(current)),
            DirectoryWrite::Key(next.clone()),
        )
        .await?;
    Ok(next)
}

/// A key by id or name.
fn find(admin: &Admin, key: &str) -> Result<ApiKey, AdminError> {
    let directory = admin.state.governance.directory.snapshot();
    let keys = &directory.source.keys;
    keys.iter()
        .find(|k| k.id == key)
        .or_else(|| keys.iter().find(|k| k.name == key))
        .cloned()
        .ok_or_else(|| not_found("key", key))
}

fn key_target(key: &ApiKey) -> Target<'_> {
    if key.admin {
        return Target::Global;
    }
    Target::Key {
        team: key.team_id.as_deref(),
        user: key.user_id.as_deref(),
    }
}
