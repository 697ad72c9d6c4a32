//! Who may do what through the admin API. An admin (the master key, an
//! admin key, or a key of an admin user) may do everything. Otherwise the
//! caller's key must belong to a user, whose role in each team decides:
//!
//! | role   | reads           | writes                                   |
//! |--------|-----------------|------------------------------------------|
//! | admin  | the team        | the team's keys, users and budgets       |
//! | member | the team        | their own keys                           |
//! | viewer | the team        | nothing                                  |

use keel_store::governance::{TeamRole, User};

/// The caller of an admin request.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per admin request
pub enum Actor {
    Admin,
    /// A key of `user` (a key with no user and no admin flag is not
    /// allowed to call the admin API at all).
    User(User),
}

/// What an admin request touches.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Anything not owned by one team: creating teams, model budgets, the
    /// admin audit, spend across teams, making admins.
    Global,
    /// A team's settings, budgets and membership.
    Team(&'a str),
    /// A key, by its owner and team.
    Key {
        team: Option<&'a str>,
        user: Option<&'a str>,
    },
    /// A user, by the teams the change concerns.
    User { id: &'a str, teams: &'a [String] },
}

/// Reading or changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Actor {
    /// Whether the actor may `access` `target`.
    pub fn may(&self, access: Access, target: Target<'_>) -> bool {
        let user = match self {
            Actor::Admin => return true,
            Actor::User(user) => user,
        };
        let role = |team: &str| user.memberships.get(team).copied();
        match (access, target) {
            (_, Target::Global) => false,
            (Access::Read, Target::Team(team)) => role(team).is_some(),
            (Access::Write, Target::Team(team)) => role(team) == Some(TeamRole::Admin),
            (Access::Read, Target::Key { team, user: owner }) => {
                owner == Some(user.id.as_str()) || team.is_some_and(|t| role(t).is_some())
            }
            (Access::Write, Target::Key { team, user: owner }) => {
                let team_admin = team.is_some_and(|t| role(t) == Some(TeamRole::Admin));
                let own = owner == Some(user.id.as_str())
                    && team.is_none_or(|t| {
                        matches!(role(t), Some(TeamRole::Admin | TeamRole::Member))
                    })
                    && (team.is_some()
                        || user.memberships.values().any(|r| *r != TeamRole::Viewer));
                team_admin || own
            }
            (Access::Read, Target::User { id, teams }) => {
                id == user.id || teams.iter().any(|t| role(t).is_some())
            }
            (Access::Write, Target::User { teams, .. }) => {
                !teams.is_empty() && teams.iter().all(|t| role(t) == Some(TeamRole::Admin))
            }
        }
    }

    /// The teams whose data the actor may read (None: all of them).
    pub fn readable_teams(&self) -> Option<Vec<String>> {
        match self {
            Actor::Admin => None,
            Actor::User(user) => Some(user.memberships.keys().cloned().collect()),
        }
    }

    /// The user behind the actor, if not an admin.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Actor::Admin => None,
            Actor::User(user) => Some(&user.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use keel_store::governance::{Limits, TeamRole, User};

    use super::*;

    fn user(id: &str, role: Option<TeamRole>) -> Actor {
        Actor::User(User {
            id: id.into(),
            email: format!("{id}@x.io"),
            name: None,
            admin: false,
            memberships: role
                .map(|r| ("t1".to_owned(), r))
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            limits: Limits::default(),
            created_at_ms: 0,
            updated_at_ms: 0,
        })
    }

    /// Every role against every kind of admin action: R = may read, W = may
    /// read and write, - = neither.
    #[test]
    fn every_role_against_every_action() {
        let t1 = ["t1".to_owned()];
        let t2 = ["t2".to_owned()];
        let targets: [(&str, Target<'_>); 9] = [
            (
                "global (teams, admins, audit, model budgets)",
                Target::Global,
            ),
            ("own team", Target::Team("t1")),
            ("other team", Target::Team("t2")),
            (
                "own key in team",
                Target::Key {
                    team: Some("t1"),
                    user: Some("me"),
                },
            ),
            (
                "teammate's key",
                Target::Key {
                    team: Some("t1"),
                    user: Some("mate"),
                },
            ),
            (
                "team service key",
                Target::Key {
                    team: Some("t1"),
                    user: None,
                },
            ),
            (
                "other team's key",
                Target::Key {
                    team: Some("t2"),
                    user: Some("x"),
                },
            ),
            (
                "user in own team",
                Target::User {
                    id: "mate",
                    teams: &t1,
                },
            ),
            (
                "user in other team",
                Target::User {
                    id: "x",
                    teams: &t2,
                },
            ),
        ];
        let actors = [
            ("admin", Actor::Admin, "WWWWWWWWW"),
            ("team admin", user("me", Some(TeamRole::Admin)), "-W-WWW-W-"),
            ("member", user("me", Some(TeamRole::Member)), "-R-WRR-R-"),
            ("viewer", user("me", Some(TeamRole::Viewer)), "-R-RRR-R-"),
            ("no team", user("me", None), "---R-----"),
        ];
        for (who, actor, expected) in &actors {
            for ((what, target), want) in targets.iter().zip(expected.chars()) {
                let got = match (
                    actor.may(Access::Read, *target),
                    actor.may(Access::Write, *target),
                ) {
                    (_, true) => 'W',
                    (true, false) => 'R',
                    (false, false) => '-',
                };
                assert_eq!(got, want, "{who} on {what}");
            }
        }
    }
}
