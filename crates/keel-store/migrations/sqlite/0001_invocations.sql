CREATE TABLE invocations (
    id               TEXT PRIMARY KEY NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    trace_id         TEXT,
    span_id          TEXT,
    parent_span_id   TEXT,
    key_id           TEXT,
    endpoint         TEXT NOT NULL,
    requested_model  TEXT,
    resolved_model   TEXT,
    provider         TEXT,
    model_version    TEXT,
    stream           INTEGER NOT NULL,
    status           INTEGER NOT NULL,
    outcome          TEXT NOT NULL,
    error_class      TEXT,
    error_message    TEXT,
    finish_reason    TEXT,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cached_tokens    INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    token_source     TEXT NOT NULL,
    cost_usd         REAL,
    latency_ms       REAL NOT NULL,
    ttft_ms          REAL,
    attempts         INTEGER NOT NULL,
    request_body     TEXT,
    response_body    TEXT,
    raw_usage        TEXT
);
CREATE INDEX invocations_created_at ON invocations (created_at_ms);
CREATE INDEX invocations_trace ON invocations (trace_id);
CREATE INDEX invocations_model ON invocations (requested_model, created_at_ms);
