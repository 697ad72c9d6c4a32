//! The directory in memory: every virtual key by the SHA-256 of its secret,
//! with its principal (user, team, limits) resolved once per load. A load
//! replaces the whole index at once; the request path only reads it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use keel_store::governance::{self as g, ApiKey, Limits};

use crate::models::ModelAllowList;
use crate::principal::Principal;
use crate::secret;

/// One virtual key as the request path needs it.
#[derive(Debug)]
pub struct KeyEntry {
    pub key: ApiKey,
    pub principal: Arc<Principal>,
}

/// Why a presented virtual key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No such key.
    Unknown,
    Revoked,
    Expired,
}

/// The loaded directory and its indexes.
#[derive(Default)]
pub struct Snapshot {
    pub source: g::Directory,
    /// Secret hash → key, with the expiry of a rotated-out secret.
    by_hash: HashMap<[u8; 32], (Arc<KeyEntry>, Option<i64>)>,
    by_id: HashMap<String, Arc<KeyEntry>>,
    model_limits: HashMap<String, Limits>,
}

/// The shared, swappable directory.
#[derive(Default)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
}

impl Directory {
    /// The current snapshot (one Arc clone under a read lock).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The loaded version (to tell whether the store moved on).
    pub fn version(&self) -> i64 {
        self.snapshot().source.version
    }

    /// Replaces the directory with a newer load; an older one (a slow
    /// refresh racing a write's reload) is ignored.
    pub fn install(&self, loaded: g::Directory) {
        let snapshot = Arc::new(Snapshot::build(loaded));
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if snapshot.source.version >= guard.source.version {
            *guard = snapshot;
        }
    }
}

impl Snapshot {
    fn build(source: g::Directory) -> Snapshot {
        let teams: HashMap<&str, &g::Team> =
            source.teams.iter().map(|t| (t.id.as_str(), t)).collect();
        let users: HashMap<&str, &g::User> =
            source.users.iter().map(|u| (u.id.as_str(), u)).collect();
        let mut by_hash = HashMap::new();
        let mut by_id = HashMap::new();
        for key in &source.keys {
            let user = key.user_id.as_deref().and_then(|id| users.get(id));
            let team = key.team_id.as_deref().and_then(|id| teams.get(id));
            let mut limits = vec![(format!("key:{}", key.id), key.limits.clone())];
            if let Some(user) = user {
                limits.push((format!("user:{}", user.id), user.limits.clone()));
            }
            if let Some(team) = team {
                limits.push((format!("team:{}", team.id), team.limits.clone()));
            }
            let principal = Principal {
                key_id: key.id.clone(),
                key_name: Some(key.name.clone()),
                user_id: key.user_id.clone(),
                team_id: key.team_id.clone(),
                agent: key.agent.clone(),
                tags: (!key.tags.is_empty())
                    .then(|| serde_json::to_string(&key.tags).unwrap_or_default()),
                admin: key.admin || user.is_some_and(|u| u.admin),
                limits,
                models: ModelAllowList::new(&key.models),
            };
            let entry = Arc::new(KeyEntry {
                principal: Arc::new(principal),
                key: key.clone(),
            });
            if let Some(hash) = secret::parse_hex(&key.secret_sha256) {
                by_hash.insert(hash, (entry.clone(), None));
            }
            if let (Some(previous), Some(until)) = (
                key.previous_sha256.as_deref().and_then(secret::parse_hex),
                key.previous_valid_until_ms,
            ) {
                by_hash.insert(previous, (entry.clone(), Some(until)));
            }
            by_id.insert(key.id.clone(), entry);
        }
        let model_limits = source
            .model_budgets
            .iter()
            .map(|b| (b.model.clone(), b.limits.clone()))
            .collect();
        Snapshot {
            source,
            by_hash,
            by_id,
            model_limits,
        }
    }

    /// The key whose secret is `presented`, if it may be used at `now_ms`.
    pub fn authenticate(&self, presented: &str, now_ms: i64) -> Result<Arc<KeyEntry>, AuthError> {
        let Some((entry, rotated_out_at)) = self.by_hash.get(&secret::sha256(presented)) else {
            return Err(AuthError::Unknown);
        };
        if entry.key.revoked_at_ms.is_some_and(|at| at <= now_ms) {
            return Err(AuthError::Revoked);
        }
        if entry.key.expires_at_ms.is_some_and(|at| at <= now_ms)
            || rotated_out_at.is_some_and(|at| at <= now_ms)
        {
            return Err(AuthError::Expired);
        }
        Ok(entry.clone())
    }

    /// A key by id.
    pub fn key(&self, id: &str) -> Option<&Arc<KeyEntry>> {
        self.by_id.get(id)
    }

    /// The budget over every call to `model`, if one is set.
    pub fn model_limits(&self, model: &str) -> Option<&Limits> {
        self.model_limits.get(model)
    }

    /// A team by id or name.
    pub fn team(&self, id_or_name: &str) -> Option<&g::Team> {
        let teams = &self.source.teams;
        teams
            .iter()
            .find(|t| t.id == id_or_name)
            .or_else(|| teams.iter().find(|t| t.name == id_or_name))
    }

    /// A user by id or email.
    pub fn user(&self, id_or_email: &str) -> Option<&g::User> {
        let users = &self.source.users;
        users.iter().find(|u| u.id == id_or_email).or_else(|| {
            users
                .iter()
                .find(|u| u.email.eq_ignore_ascii_case(id_or_email))
        })
    }
}
