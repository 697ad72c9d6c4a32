//! Invocation records: what one model call was, and where it is kept.
//! SQLite is the default store, PostgreSQL the scale-out one; both sit behind
//! [`Store`] and are fed by one batching [`writer`] off the request path.

mod backends;
mod durability;
pub mod error;
pub mod governance;
pub mod migrate;
pub mod record;
pub mod store;
pub mod timefmt;
pub mod writer;

pub use durability::Durability;
pub use error::StoreError;
pub use record::{Attempt, Invocation, Outcome};
pub use store::{open, DirectoryStore, LogFilter, Store, StoreFuture};
pub use writer::{RecordBuilder, RecordSink, WriterConfig};
