-- Who made each call, so spend groups by them with plain queries.
ALTER TABLE invocations ADD COLUMN user_id TEXT;
ALTER TABLE invocations ADD COLUMN team_id TEXT;
ALTER TABLE invocations ADD COLUMN key_name TEXT;
ALTER TABLE invocations ADD COLUMN agent TEXT;
ALTER TABLE invocations ADD COLUMN tags TEXT;

-- Teams, users and virtual keys. Limits, model lists, tags and metadata are
-- JSON text: read whole into memory, never queried by field.
CREATE TABLE teams (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    limits        TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT,
    admin         BOOLEAN NOT NULL,
    memberships   TEXT NOT NULL,
    limits        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
-- Only the secret's SHA-256 is kept; the previous one stays valid until
-- previous_valid_until_ms after a rotation.
CREATE TABLE api_keys (
    id                      TEXT PRIMARY KEY NOT NULL,
    name                    TEXT NOT NULL UNIQUE,
    prefix                  TEXT NOT NULL,
    secret_sha256           TEXT NOT NULL UNIQUE,
    previous_sha256         TEXT,
    previous_valid_until_ms BIGINT,
    team_id                 TEXT,
    user_id                 TEXT,
    agent                   TEXT,
    admin                   BOOLEAN NOT NULL,
    models                  TEXT NOT NULL,
    limits                  TEXT NOT NULL,
    tags                    TEXT NOT NULL,
    metadata                TEXT NOT NULL,
    expires_at_ms           BIGINT,
    revoked_at_ms           BIGINT,
    created_at_ms           BIGINT NOT NULL,
    updated_at_ms           BIGINT NOT NULL
);
-- Budgets over every call to one model, whoever makes it.
CREATE TABLE model_budgets (
    model         TEXT PRIMARY KEY NOT NULL,
    limits        TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
-- Bumped by every write above, so each node can tell cheaply that its
-- in-memory copy is stale.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

-- Spend per budget scope (key:ID, user:ID, team:ID, model:NAME) and UTC day,
-- written by the record writer in the same transaction as the records.
CREATE TABLE spend_daily (
    scope    TEXT NOT NULL,
    day      BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    tokens   BIGINT NOT NULL,
    calls    BIGINT NOT NULL,
    PRIMARY KEY (scope, day)
);

-- Budget thresholds already announced, so each fires once per period.
CREATE TABLE budget_alerts (
    scope           TEXT NOT NULL,
    period_start_ms BIGINT NOT NULL,
    threshold       INTEGER NOT NULL,
    fired_at_ms     BIGINT NOT NULL,
    PRIMARY KEY (scope, period_start_ms, threshold)
);

-- Every admin write: who, what, on which target, before and after.
CREATE TABLE admin_audit (
    id          TEXT PRIMARY KEY NOT NULL,
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    address     TEXT
);
CREATE INDEX admin_audit_at ON admin_audit (at_ms);
