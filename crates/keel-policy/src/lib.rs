//! Who may call and how much, decided from memory. The gateway's policy
//! stage asks three questions here, none of which touches a database:
//!
//! - [`directory`]: whose key is this (virtual keys by their SHA-256, kept
//!   current from the store), and may it use this model?
//! - [`ledger`]: does the call fit every budget and rate limit that applies?
//!   If so its worst-case cost is reserved, and settled to the real cost
//!   when the record is built.
//! - [`rbac`]: may this caller make this admin change?

pub mod clock;
pub mod directory;
pub mod ledger;
pub mod models;
pub mod period;
pub mod principal;
pub mod rate;
pub mod rbac;
pub mod redis_ledger;
pub mod secret;

pub use clock::Clock;
pub use directory::{AuthError, Directory, KeyEntry};
pub use ledger::{Estimate, Ledger, Refusal, Reservation, ThresholdCrossed};
pub use principal::Principal;
pub use redis_ledger::{Held, RedisLedger, WhenDown};
