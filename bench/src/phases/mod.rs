//! The benchmark phases. Each takes a [`Target`](crate::client::Target), runs
//! for a bounded time or count, and returns raw summaries; comparing direct,
//! the bare proxy and Keel happens in the report.

pub mod concurrency;
pub mod latency;
pub mod rate;
pub mod soak;
pub mod streams;
pub mod throughput;
