//! The durability setting, on its own so the store (which picks SQLite's
//! `synchronous` from it) and the writer (which acknowledges by it) can both
//! use it without depending on each other.

/// When a response may finish relative to its record reaching disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Records are flushed every `flush_interval`; a crash loses at most the
    /// records of the last interval. The default.
    #[default]
    Batched,
    /// Group commit: a response's last byte goes out only after its record is
    /// committed, so a crash loses no answered call.
    Sync,
}
