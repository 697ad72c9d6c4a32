//! The SQL both backends share, stamped out per backend by `impl_store!`
//! (sqlx's query builder is generic over the database, its row types are not).

/// Every column of `invocations`, in insert order.
pub const COLUMNS: &str = "id, created_at_ms, trace_id, span_id, parent_span_id, key_id, endpoint, \
    requested_model, resolved_model, provider, model_version, stream, status, outcome, error_class, \
    error_message, finish_reason, input_tokens, output_tokens, cached_tokens, reasoning_tokens, \
    token_source, cost_usd, latency_ms, ttft_ms, attempts, request_body, response_body, raw_usage, \
    attempt_list, key_name, user_id, team_id, agent, tags";

/// Rows per INSERT statement: few enough for SQLite's variable limit
/// (35 columns × 64 rows < 32766), many enough to amortise the round trip.
pub const ROWS_PER_STATEMENT: usize = 64;

/// Whether an INSERT of `rows` rows keeps its prepared statement in the
/// connection's cache. Only full chunks do: the cache is keyed by SQL text,
/// so caching every last-chunk size (1 to 63 rows) would keep 64 statements
/// per connection, measured at about 6 MB per SQLite connection and 14 MB
/// per PostgreSQL backend. A shorter chunk is prepared for its one use.
pub const fn cache_statement(rows: usize) -> bool {
    rows == ROWS_PER_STATEMENT
}

/// Columns for listings: everything but the bodies.
pub const LIST_COLUMNS: &str = "id, created_at_ms, trace_id, span_id, parent_span_id, key_id, endpoint, \
    requested_model, resolved_model, provider, model_version, stream, status, outcome, error_class, \
    error_message, finish_reason, input_tokens, output_tokens, cached_tokens, reasoning_tokens, \
    token_source, cost_usd, latency_ms, ttft_ms, attempts, NULL AS request_body, NULL AS response_body, raw_usage, \
    attempt_list, key_name, user_id, team_id, agent, tags";

/// Implements migrations and [`crate::Store`] for `$store` (a struct with a
/// `pool: sqlx::Pool<$db>` field).
macro_rules! impl_store {
    ($store:ty, $db:ty, $migrations:expr, $backend:literal) => {
        impl $store {
            /// Applies every embedded migration newer than the database's schema.
            async fn migrate(pool: &sqlx::Pool<$db>) -> Result<(), $crate::StoreError> {
                use $crate::migrate::latest;
                sqlx::raw_sql(
                    "CREATE TABLE IF NOT EXISTS keel_schema_migrations (\
                     version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
                )
                .execute(pool)
                .await
                .map_err($crate::StoreError::Connect)?;
                let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM keel_schema_migrations")
                    .fetch_one(pool)
                    .await?;
                let current = current.unwrap_or(0);
                let supported = latest($migrations);
                if current > supported {
                    return Err($crate::StoreError::SchemaTooNew { found: current, supported });
                }
                for m in $migrations.iter().filter(|m| m.version > current) {
                    let fail = |source| $crate::StoreError::Migration { version: m.version, name: m.name, source };
                    let mut tx = pool.begin().await.map_err(fail)?;
                    sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(fail)?;
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO keel_schema_migrations (version, name, applied_at_ms) VALUES (",
                    );
                    q.push_bind(m.version)
                        .push(", ")
                        .push_bind(m.name)
                        .push(", ")
                        .push_bind($crate::timefmt::now_ms())
                        .push(")");
                    q.build().execute(&mut *tx).await.map_err(fail)?;
                    tx.commit().await.map_err(fail)?;
                    tracing::info!(version = m.version, name = m.name, "applied migration");
                }
                Ok(())
            }
        }

        impl $crate::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn insert_batch<'a>(&'a self, batch: &'a [$crate::Invocation]) -> $crate::StoreFuture<'a, ()> {
                Box::pin(async move {
                    if batch.is_empty() {
                        return Ok(());
                    }
                    // Multi-row statements, one round trip per chunk.
                    let mut tx = self.pool.begin().await?;
                    for chunk in batch.chunks($crate::backends::common::ROWS_PER_STATEMENT) {
                        let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO invocations (");
                        q.push($crate::backends::common::COLUMNS).push(") ");
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(r.id.to_string())
                                .push_bind(r.created_at_ms)
                                .push_bind(r.trace_id.as_deref())
                                .push_bind(r.span_id.as_deref())
                                .push_bind(r.parent_span_id.as_deref())
                                .push_bind(r.key_id.as_deref())
                                .push_bind(r.endpoint.as_str())
                                .push_bind(r.requested_model.as_deref())
                                .push_bind(r.resolved_model.as_deref())
                                .push_bind(r.provider.as_deref())
                                .push_bind(r.model_version.as_deref())
                                .push_bind(r.stream)
                                .push_bind(i32::from(r.status))
                                .push_bind(r.outcome.as_str())
                                .push_bind(r.error_class.as_deref())
                                .push_bind(r.error_message.as_deref())
                                .push_bind(r.finish_reason.as_deref())
                                .push_bind(r.input_tokens)
                                .push_bind(r.output_tokens)
                                .push_bind(r.cached_tokens)
                                .push_bind(r.reasoning_tokens)
                                .push_bind(r.token_source.as_str())
                                .push_bind(r.cost_usd)
                                .push_bind(r.latency_ms)
                                .push_bind(r.ttft_ms)
                                .push_bind(r.attempts)
                                .push_bind(r.request_body.as_deref())
                                .push_bind(r.response_body.as_deref())
                                .push_bind(r.raw_usage.as_deref())
                                .push_bind($crate::backends::attempt_list::encode(&r.attempt_list))
                                .push_bind(r.key_name.as_deref())
                                .push_bind(r.user_id.as_deref())
                                .push_bind(r.team_id.as_deref())
                                .push_bind(r.agent.as_deref())
                                .push_bind(r.tags.as_deref());
                        });
                        q.build()
                            .persistent($crate::backends::common::cache_statement(chunk.len()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    Self::add_daily_spend(&mut tx, &$crate::governance::daily_spend(batch)).await?;
                    tx.commit().await?;
                    Ok(())
                })
            }

            fn list<'a>(&'a self, f: &'a $crate::LogFilter) -> $crate::StoreFuture<'a, Vec<$crate::Invocation>> {
                Box::pin(async move {
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT ");
                    q.push($crate::backends::common::LIST_COLUMNS).push(" FROM invocations WHERE 1=1");
                    if let Some(m) = &f.model {
                        q.push(" AND (requested_model = ").push_bind(m.as_str());
                        q.push(" OR resolved_model = ").push_bind(m.as_str()).push(")");
                    }
                    match f.status.as_deref() {
                        None => {}
                        Some("ok") => {
                            q.push(" AND outcome = 'ok'");
                        }
                        Some("error") => {
                            q.push(" AND outcome <> 'ok'");
                        }
                        Some(code) => {
                            let code: i32 = code.parse().unwrap_or(-1);
                            q.push(" AND status = ").push_bind(code);
                        }
                    }
                    if let Some(k) = &f.key_id {
                        q.push(" AND key_id = ").push_bind(k.as_str());
                    }
                    if let Some(t) = &f.team_id {
                        q.push(" AND team_id = ").push_bind(t.as_str());
                    }
                    if let Some(u) = &f.user_id {
                        q.push(" AND user_id = ").push_bind(u.as_str());
                    }
                    if let Some(t) = &f.trace_id {
                        q.push(" AND trace_id = ").push_bind(t.as_str());
                    }
                    if let Some(s) = f.since_ms {
                        q.push(" AND created_at_ms >= ").push_bind(s);
                    }
                    if let Some(u) = f.until_ms {
                        q.push(" AND created_at_ms <= ").push_bind(u);
                    }
                    q.push(" ORDER BY created_at_ms DESC, id DESC LIMIT ").push_bind(f.limit.max(1));
                    let rows = q.build().fetch_all(&self.pool).await?;
                    rows.iter().map(|r| Self::decode(r)).collect()
                })
            }

            fn get<'a>(&'a self, id: &'a str) -> $crate::StoreFuture<'a, Option<$crate::Invocation>> {
                Box::pin(async move {
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT ");
                    q.push($crate::backends::common::COLUMNS).push(" FROM invocations WHERE id LIKE ");
                    q.push_bind(format!("{}%", id.replace(['%', '_'], ""))).push(" ORDER BY id LIMIT 2");
                    let rows = q.build().fetch_all(&self.pool).await?;
                    match rows.as_slice() {
                        [one] => Ok(Some(Self::decode(one)?)),
                        _ => Ok(None),
                    }
                })
            }

            fn count(&self) -> $crate::StoreFuture<'_, i64> {
                Box::pin(async move {
                    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM invocations").fetch_one(&self.pool).await?)
                })
            }

            fn ping(&self) -> $crate::StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                })
            }

            fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
                Box::pin(self.pool.close())
            }
        }

        impl $store {
            fn decode(r: &<$db as sqlx::Database>::Row) -> Result<$crate::Invocation, $crate::StoreError> {
                use sqlx::Row;
                let id: String = r.try_get("id")?;
                Ok($crate::Invocation {
                    id: uuid::Uuid::parse_str(&id).unwrap_or_default(),
                    created_at_ms: r.try_get("created_at_ms")?,
                    trace_id: r.try_get("trace_id")?,
                    span_id: r.try_get("span_id")?,
                    parent_span_id: r.try_get("parent_span_id")?,
                    key_id: r.try_get("key_id")?,
                    key_name: r.try_get("key_name")?,
                    user_id: r.try_get("user_id")?,
                    team_id: r.try_get("team_id")?,
                    agent: r.try_get("agent")?,
                    tags: r.try_get("tags")?,
                    endpoint: r.try_get("endpoint")?,
                    requested_model: r.try_get("requested_model")?,
                    resolved_model: r.try_get("resolved_model")?,
                    provider: r.try_get("provider")?,
                    model_version: r.try_get("model_version")?,
                    stream: r.try_get("stream")?,
                    status: u16::try_from(r.try_get::<i32, _>("status")?).unwrap_or(0),
                    outcome: $crate::Outcome::parse(&r.try_get::<String, _>("outcome")?),
                    error_class: r.try_get("error_class")?,
                    error_message: r.try_get("error_message")?,
                    finish_reason: r.try_get("finish_reason")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cached_tokens: r.try_get("cached_tokens")?,
                    reasoning_tokens: r.try_get("reasoning_tokens")?,
                    token_source: r.try_get("token_source")?,
                    cost_usd: r.try_get("cost_usd")?,
                    latency_ms: r.try_get("latency_ms")?,
                    ttft_ms: r.try_get("ttft_ms")?,
                    attempts: r.try_get("attempts")?,
                    attempt_list: $crate::backends::attempt_list::decode(
                        r.try_get::<Option<&str>, _>("attempt_list")?,
                    ),
                    request_body: r.try_get("request_body")?,
                    response_body: r.try_get("response_body")?,
                    raw_usage: r.try_get("raw_usage")?,
                })
            }
        }
    };
}
