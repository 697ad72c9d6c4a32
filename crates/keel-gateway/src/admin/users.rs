//! `/users`: people, their role in each team, and their limits.

use std::collections::BTreeMap;

use axum::extract::Path;
use bytes::Bytes;
use keel_policy::rbac::{Access, Target};
use keel_store::governance::{DirectoryWrite, Limits, TeamRole, User};
use serde_json::Value;

use super::context::{invalid, not_found, reply, to_value, Admin, AdminError, AdminResult};
use super::input::{apply_limits, field, name, object};
use keel_policy::directory::Snapshot;

/// `POST /users`: `{email, name?, team?, role?, admin?, limits…}`.
pub async fn create(admin: Admin, body: Bytes) -> AdminResult {
    let map = object(&body, &["email", "name", "team", "role", "admin"])?;
    let directory = admin.state.governance.directory.snapshot();
    let email = name(&map, "email")?.to_lowercase();
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(invalid(
            "email",
            format!("'{email}' is not an email address."),
        ));
    }
    let mut memberships = BTreeMap::new();
    if let Some(team) = field::<String>(&map, "team", "a team id or name")? {
        let role = role(&map)?.unwrap_or(TeamRole::Member);
        memberships.insert(team_id(&directory, &team)?, role);
    } else if map.get("role").is_some_and(|r| !r.is_null()) {
        return Err(invalid(
            "role",
            "A role is given in a team: set 'team' too.",
        ));
    }
    let make_admin = field::<bool>(&map, "admin", "true or false")?.unwrap_or(false);
    let teams: Vec<String> = memberships.keys().cloned().collect();
    let target = if make_admin || teams.is_empty() {
        Target::Global
    } else {
        Target::User {
            id: "",
            teams: &teams,
        }
    };
    admin.require(Access::Write, target)?;
    let now = admin.now_ms();
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        name: field(&map, "name", "a string")?,
        admin: make_admin,
        memberships,
        limits: apply_limits(&Limits::default(), &map)?,
        created_at_ms: now,
        updated_at_ms: now,
    };
    admin
        .commit(
            "users.create",
            "user",
            &user.id,
            None,
            DirectoryWrite::User(user.clone()),
        )
        .await?;
    Ok(reply(201, &user))
}

/// `GET /users`: every user the caller may read.
pub async fn list(admin: Admin) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let users: Vec<&User> = directory
        .source
        .users
        .iter()
        .filter(|u| {
            let teams: Vec<String> = u.memberships.keys().cloned().collect();
            admin.actor.may(
                Access::Read,
                Target::User {
                    id: &u.id,
                    teams: &teams,
                },
            )
        })
        .collect();
    Ok(reply(200, &serde_json::json!({ "data": users })))
}

/// `GET /users/{user}` by id or email.
pub async fn show(admin: Admin, Path(user): Path<String>) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let user = directory
        .user(&user)
        .ok_or_else(|| not_found("user", &user))?;
    let teams: Vec<String> = user.memberships.keys().cloned().collect();
    admin.require(
        Access::Read,
        Target::User {
            id: &user.id,
            teams: &teams,
        },
    )?;
    Ok(reply(200, user))
}

/// `PATCH /users/{user}`: `name`, `admin`, limits, and `teams`
/// (`{"search": "admin", "old-team": null}` sets or removes roles).
pub async fn update(admin: Admin, Path(user): Path<String>, body: Bytes) -> AdminResult {
    let map = object(&body, &["name", "admin", "teams"])?;
    let directory = admin.state.governance.directory.snapshot();
    let current = directory
        .user(&user)
        .ok_or_else(|| not_found("user", &user))?;
    let mut next = current.clone();
    // The teams this change touches: every team whose role changes, or all
    // of the user's teams for a change to the user itself.
    let mut touched: Vec<String> = Vec::new();
    if let Some(teams) = field::<BTreeMap<String, Option<String>>>(
        &map,
        "teams",
        "an object of team → role or null",
    )? {
        for (team, role_name) in teams {
            let id = team_id(&directory, &team)?;
            match role_name {
                None => {
                    next.memberships.remove(&id);
                }
                Some(r) => {
                    let role = TeamRole::parse(&r).ok_or_else(|| {
                        invalid(
                            "teams",
                            format!("'{r}' is not a role: use admin, member or viewer."),
                        )
                    })?;
                    next.memberships.insert(id.clone(), role);
                }
            }
            touched.push(id);
        }
    }
    let changes_user = map.contains_key("name")
        || super::input::LIMIT_FIELDS
            .iter()
            .any(|f| map.contains_key(*f));
    if changes_user {
        touched.extend(current.memberships.keys().cloned());
    }
    if let Some(name) = field::<String>(&map, "name", "a string")? {
        next.name = Some(name);
    }
    next.limits = apply_limits(&current.limits, &map)?;
    let admin_flag = field::<bool>(&map, "admin", "true or false")?;
    if let Some(flag) = admin_flag {
        next.admin = flag;
    }
    let target = if admin_flag.is_some() || touched.is_empty() {
        Target::Global
    } else {
        Target::User {
            id: &current.id,
            teams: &touched,
        }
    };
    admin.require(Access::Write, target)?;
    next.updated_at_ms = admin.now_ms();
    admin
        .commit(
            "users.update",
            "user",
            &next.id,
            Some(to_value(current)),
            DirectoryWrite::User(next.clone()),
        )
        .await?;
    Ok(reply(200, &next))
}

/// `role` of the body, if given.
fn role(map: &serde_json::Map<String, Value>) -> Result<Option<TeamRole>, AdminError> {
    match field::<String>(map, "role", "a string")? {
        None => Ok(None),
        Some(r) => TeamRole::parse(&r).map(Some).ok_or_else(|| {
            invalid(
                "role",
                format!("'{r}' is not a role: use admin, member or viewer."),
            )
        }),
    }
}

/// A team's id from its id or name; an unknown team is a 400.
pub fn team_id(directory: &Snapshot, team: &str) -> Result<String, AdminError> {
    directory
        .team(team)
        .map(|t| t.id.clone())
        .ok_or_else(|| invalid("team", format!("No team '{team}'.")))
}
