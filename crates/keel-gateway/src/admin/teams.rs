//! `/teams`: create, list, show and change teams and their limits.

use axum::extract::Path;
use bytes::Bytes;
use keel_policy::rbac::{Access, Target};
use keel_store::governance::{DirectoryWrite, Limits, Team};
use serde_json::Value;

use super::context::{not_found, reply, to_value, Admin, AdminResult};
use super::input::{apply_limits, field, name, object};

/// `POST /teams` (admins only).
pub async fn create(admin: Admin, body: Bytes) -> AdminResult {
    admin.require(Access::Write, Target::Global)?;
    let map = object(&body, &["name", "metadata"])?;
    let now = admin.now_ms();
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: name(&map, "name")?,
        limits: apply_limits(&Limits::default(), &map)?,
        metadata: field::<Value>(&map, "metadata", "an object")?.unwrap_or(Value::Null),
        created_at_ms: now,
        updated_at_ms: now,
    };
    admin
        .commit(
            "teams.create",
            "team",
            &team.id,
            None,
            DirectoryWrite::Team(team.clone()),
        )
        .await?;
    Ok(reply(201, &team))
}

/// `GET /teams`: every team the caller may read.
pub async fn list(admin: Admin) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let teams: Vec<&Team> = directory
        .source
        .teams
        .iter()
        .filter(|t| admin.actor.may(Access::Read, Target::Team(&t.id)))
        .collect();
    Ok(reply(200, &serde_json::json!({ "data": teams })))
}

/// `GET /teams/{team}` by id or name.
pub async fn show(admin: Admin, Path(team): Path<String>) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let team = directory
        .team(&team)
        .ok_or_else(|| not_found("team", &team))?;
    admin.require(Access::Read, Target::Team(&team.id))?;
    Ok(reply(200, team))
}

/// `PATCH /teams/{team}`: name, metadata, limits (admins and the team's admins).
pub async fn update(admin: Admin, Path(team): Path<String>, body: Bytes) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let current = directory
        .team(&team)
        .ok_or_else(|| not_found("team", &team))?;
    admin.require(Access::Write, Target::Team(&current.id))?;
    let map = object(&body, &["name", "metadata"])?;
    let mut next = current.clone();
    if map.contains_key("name") {
        next.name = name(&map, "name")?;
    }
    if let Some(metadata) = field::<Value>(&map, "metadata", "an object")? {
        next.metadata = metadata;
    }
    next.limits = apply_limits(&current.limits, &map)?;
    next.updated_at_ms = admin.now_ms();
    admin
        .commit(
            "teams.update",
            "team",
            &next.id,
            Some(to_value(current)),
            DirectoryWrite::Team(next.clone()),
        )
        .await?;
    Ok(reply(200, &next))
}
