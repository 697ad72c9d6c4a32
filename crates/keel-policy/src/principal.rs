//! Who is calling, as every later stage and the record see it.

use std::sync::Arc;

use keel_store::governance::Limits;

use crate::models::ModelAllowList;

/// The caller behind a request: the master key, or a virtual key with its
/// user, team and agent. Built once per directory load and shared.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    /// `master`, or the virtual key's id.
    pub key_id: String,
    pub key_name: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub agent: Option<String>,
    /// The key's tags as JSON text, for the record.
    pub tags: Option<String>,
    /// May manage everything through the admin API.
    pub admin: bool,
    /// The limits that apply, each with the budget scope it counts against.
    pub limits: Vec<(String, Limits)>,
    /// The models the key may use.
    pub models: ModelAllowList,
}

/// The key id records carry for the master key.
pub const MASTER_KEY_ID: &str = "master";

impl Principal {
    /// The master key: an admin without limits.
    pub fn master() -> Arc<Principal> {
        Arc::new(Principal {
            key_id: MASTER_KEY_ID.to_owned(),
            admin: true,
            ..Principal::default()
        })
    }

    /// True for the master key.
    pub fn is_master(&self) -> bool {
        self.key_id == MASTER_KEY_ID
    }
}
