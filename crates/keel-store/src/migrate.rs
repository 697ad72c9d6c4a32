//! Embedded, versioned migrations. Each backend has its own DDL files; the
//! runner refuses a schema newer than this binary knows instead of serving on it.

/// One schema step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// SQLite's migrations, oldest first.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "invocations",
        sql: include_str!("../migrations/sqlite/0001_invocations.sql"),
    },
    Migration {
        version: 2,
        name: "attempt_list",
        sql: include_str!("../migrations/sqlite/0002_attempt_list.sql"),
    },
    Migration {
        version: 3,
        name: "governance",
        sql: include_str!("../migrations/sqlite/0003_governance.sql"),
    },
];

/// PostgreSQL's migrations, oldest first (same versions as SQLite's).
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "invocations",
        sql: include_str!("../migrations/postgres/0001_invocations.sql"),
    },
    Migration {
        version: 2,
        name: "attempt_list",
        sql: include_str!("../migrations/postgres/0002_attempt_list.sql"),
    },
    Migration {
        version: 3,
        name: "governance",
        sql: include_str!("../migrations/postgres/0003_governance.sql"),
    },
];

/// The newest schema version in `migrations`.
pub fn latest(migrations: &[Migration]) -> i64 {
    migrations.last().map(|m| m.version).unwrap_or(0)
}
