//! The governance tables' SQL, shared by both backends like `impl_store!`:
//! loading the whole directory, writing one row with its audit entry, the
//! spend rollups the writer keeps, and spend reports over the records.

/// Implements [`crate::DirectoryStore`] for `$store`.
macro_rules! impl_directory {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Adds a batch's spend to the per-scope daily rollups (inside the
            /// batch's transaction, so rollups and records never disagree).
            async fn add_daily_spend(
                tx: &mut sqlx::Transaction<'_, $db>,
                rows: &[$crate::governance::DailySpend],
            ) -> Result<(), $crate::StoreError> {
                for chunk in rows.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO spend_daily (scope, day, cost_usd, tokens, calls) ",
                    );
                    q.push_values(chunk, |mut b, s| {
                        b.push_bind(s.scope.as_str())
                            .push_bind(s.day)
                            .push_bind(s.cost_usd)
                            .push_bind(s.tokens)
                            .push_bind(s.calls);
                    });
                    q.push(
                        " ON CONFLICT (scope, day) DO UPDATE SET \
                         cost_usd = spend_daily.cost_usd + excluded.cost_usd, \
                         tokens = spend_daily.tokens + excluded.tokens, \
                         calls = spend_daily.calls + excluded.calls",
                    );
                    q.build().persistent(false).execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn write_row(
                tx: &mut sqlx::Transaction<'_, $db>,
                write: &$crate::governance::DirectoryWrite,
            ) -> Result<(), sqlx::Error> {
                use $crate::backends::directory_json::json;
                use $crate::governance::DirectoryWrite;
                let mut q;
                match write {
                    DirectoryWrite::Team(t) => {
                        q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO teams (id, name, limits, metadata, created_at_ms, updated_at_ms) VALUES (",
                        );
                        let mut v = q.separated(", ");
                        v.push_bind(&t.id)
                            .push_bind(&t.name)
                            .push_bind(json(&t.limits))
                            .push_bind(json(&t.metadata))
                            .push_bind(t.created_at_ms)
                            .push_bind(t.updated_at_ms);
                        q.push(
                            ") ON CONFLICT (id) DO UPDATE SET name = excluded.name, limits = excluded.limits, \
                             metadata = excluded.metadata, updated_at_ms = excluded.updated_at_ms",
                        );
                    }
                    DirectoryWrite::User(u) => {
                        q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO users (id, email, name, admin, memberships, limits, created_at_ms, updated_at_ms) VALUES (",
                        );
                        let mut v = q.separated(", ");
                        v.push_bind(&u.id)
                            .push_bind(&u.email)
                            .push_bind(u.name.as_deref())
                            .push_bind(u.admin)
                            .push_bind(json(&u.memberships))
                            .push_bind(json(&u.limits))
                            .push_bind(u.created_at_ms)
                            .push_bind(u.updated_at_ms);
                        q.push(
                            ") ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
                             admin = excluded.admin, memberships = excluded.memberships, limits = excluded.limits, \
                             updated_at_ms = excluded.updated_at_ms",
                        );
                    }
                    DirectoryWrite::Key(k) => {
                        q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO api_keys (id, name, prefix, secret_sha256, previous_sha256, \
                             previous_valid_until_ms, team_id, user_id, agent, admin, models, limits, tags, \
                             metadata, expires_at_ms, revoked_at_ms, created_at_ms, updated_at_ms) VALUES (",
                        );
                        let mut v = q.separated(", ");
                        v.push_bind(&k.id)
                            .push_bind(&k.name)
                            .push_bind(&k.prefix)
                            .push_bind(&k.secret_sha256)
                            .push_bind(k.previous_sha256.as_deref())
                            .push_bind(k.previous_valid_until_ms)
                            .push_bind(k.team_id.as_deref())
                            .push_bind(k.user_id.as_deref())
                            .push_bind(k.agent.as_deref())
                            .push_bind(k.admin)
                            .push_bind(json(&k.models))
                            .push_bind(json(&k.limits))
                            .push_bind(json(&k.tags))
                            .push_bind(json(&k.metadata))
                            .push_bind(k.expires_at_ms)
                            .push_bind(k.revoked_at_ms)
                            .push_bind(k.created_at_ms)
                            .push_bind(k.updated_at_ms);
                        q.push(
                            ") ON CONFLICT (id) DO UPDATE SET name = excluded.name, prefix = excluded.prefix, \
                             secret_sha256 = excluded.secret_sha256, previous_sha256 = excluded.previous_sha256, \
                             previous_valid_until_ms = excluded.previous_valid_until_ms, team_id = excluded.team_id, \
                             user_id = excluded.user_id, agent = excluded.agent, admin = excluded.admin, \
                             models = excluded.models, limits = excluded.limits, tags = excluded.tags, \
                             metadata = excluded.metadata, expires_at_ms = excluded.expires_at_ms, \
                             revoked_at_ms = excluded.revoked_at_ms, updated_at_ms = excluded.updated_at_ms",
                        );
                    }
                    DirectoryWrite::ModelBudget(b) => {
                        q = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO model_budgets (model, limits, updated_at_ms) VALUES (",
                        );
                        let mut v = q.separated(", ");
                        v.push_bind(&b.model).push_bind(json(&b.limits)).push_bind(b.updated_at_ms);
                        q.push(
                            ") ON CONFLICT (model) DO UPDATE SET limits = excluded.limits, \
                             updated_at_ms = excluded.updated_at_ms",
                        );
                    }
                }
                q.build().persistent(false).execute(&mut **tx).await?;
                Ok(())
            }
        }

        impl $crate::DirectoryStore for $store {
            fn directory_version(&self) -> $crate::StoreFuture<'_, i64> {
                Box::pin(async move {
                    Ok(sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?)
                })
            }

            fn load_directory(&self) -> $crate::StoreFuture<'_, $crate::governance::Directory> {
                Box::pin(async move {
                    use sqlx::Row;
                    use $crate::backends::directory_json::parse;
                    let mut tx = self.pool.begin().await?;
                    let version: i64 = sqlx::query_scalar("SELECT version FROM directory_version WHERE id = 1")
                        .fetch_one(&mut *tx)
                        .await?;
                    let mut dir = $crate::governance::Directory { version, ..Default::default() };
                    for r in sqlx::query("SELECT * FROM teams ORDER BY name").fetch_all(&mut *tx).await? {
                        dir.teams.push($crate::governance::Team {
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            limits: parse(r.try_get("limits")?),
                            metadata: parse(r.try_get("metadata")?),
                            created_at_ms: r.try_get("created_at_ms")?,
                            updated_at_ms: r.try_get("updated_at_ms")?,
                        });
                    }
                    for r in sqlx::query("SELECT * FROM users ORDER BY email").fetch_all(&mut *tx).await? {
                        dir.users.push($crate::governance::User {
                            id: r.try_get("id")?,
                            email: r.try_get("email")?,
                            name: r.try_get("name")?,
                            admin: r.try_get("admin")?,
                            memberships: parse(r.try_get("memberships")?),
                            limits: parse(r.try_get("limits")?),
                            created_at_ms: r.try_get("created_at_ms")?,
                            updated_at_ms: r.try_get("updated_at_ms")?,
                        });
                    }
                    for r in sqlx::query("SELECT * FROM api_keys ORDER BY created_at_ms").fetch_all(&mut *tx).await? {
                        dir.keys.push($crate::governance::ApiKey {
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            prefix: r.try_get("prefix")?,
                            secret_sha256: r.try_get("secret_sha256")?,
                            previous_sha256: r.try_get("previous_sha256")?,
                            previous_valid_until_ms: r.try_get("previous_valid_until_ms")?,
                            team_id: r.try_get("team_id")?,
                            user_id: r.try_get("user_id")?,
                            agent: r.try_get("agent")?,
                            admin: r.try_get("admin")?,
                            models: parse(r.try_get("models")?),
                            limits: parse(r.try_get("limits")?),
                            tags: parse(r.try_get("tags")?),
                            metadata: parse(r.try_get("metadata")?),
                            expires_at_ms: r.try_get("expires_at_ms")?,
                            revoked_at_ms: r.try_get("revoked_at_ms")?,
                            created_at_ms: r.try_get("created_at_ms")?,
                            updated_at_ms: r.try_get("updated_at_ms")?,
                        });
                    }
                    for r in sqlx::query("SELECT * FROM model_budgets ORDER BY model").fetch_all(&mut *tx).await? {
                        dir.model_budgets.push($crate::governance::ModelBudget {
                            model: r.try_get("model")?,
                            limits: parse(r.try_get("limits")?),
                            updated_at_ms: r.try_get("updated_at_ms")?,
                        });
                    }
                    tx.commit().await?;
                    Ok(dir)
                })
            }

            fn write_directory<'a>(
                &'a self,
                write: &'a $crate::governance::DirectoryWrite,
                audit: &'a $crate::governance::AuditEntry,
            ) -> $crate::StoreFuture<'a, ()> {
                Box::pin(async move {
                    use $crate::backends::directory_json::json_opt;
                    let mut tx = self.pool.begin().await?;
                    Self::write_row(&mut tx, write).await.map_err($crate::StoreError::from_write)?;
                    sqlx::query("UPDATE directory_version SET version = version + 1 WHERE id = 1")
                        .execute(&mut *tx)
                        .await?;
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO admin_audit (id, at_ms, actor, action, target_kind, target_id, before, after, address) VALUES (",
                    );
                    let mut v = q.separated(", ");
                    v.push_bind(&audit.id)
                        .push_bind(audit.at_ms)
                        .push_bind(&audit.actor)
                        .push_bind(&audit.action)
                        .push_bind(&audit.target_kind)
                        .push_bind(&audit.target_id)
                        .push_bind(json_opt(audit.before.as_ref()))
                        .push_bind(json_opt(audit.after.as_ref()))
                        .push_bind(audit.address.as_deref());
                    q.push(")");
                    q.build().persistent(false).execute(&mut *tx).await?;
                    tx.commit().await?;
                    Ok(())
                })
            }

            fn admin_audit<'a>(
                &'a self,
                since_ms: Option<i64>,
                until_ms: Option<i64>,
                limit: i64,
            ) -> $crate::StoreFuture<'a, Vec<$crate::governance::AuditEntry>> {
                Box::pin(async move {
                    use sqlx::Row;
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM admin_audit WHERE 1=1");
                    if let Some(s) = since_ms {
                        q.push(" AND at_ms >= ").push_bind(s);
                    }
                    if let Some(u) = until_ms {
                        q.push(" AND at_ms <= ").push_bind(u);
                    }
                    q.push(" ORDER BY at_ms DESC, id DESC LIMIT ").push_bind(limit.max(1));
                    let rows = q.build().fetch_all(&self.pool).await?;
                    let text = |r: &<$db as sqlx::Database>::Row, c: &str| -> Result<Option<serde_json::Value>, sqlx::Error> {
                        Ok(r.try_get::<Option<String>, _>(c)?.and_then(|t| serde_json::from_str(&t).ok()))
                    };
                    let mut out = Vec::with_capacity(rows.len());
                    for r in &rows {
                        out.push($crate::governance::AuditEntry {
                            id: r.try_get("id")?,
                            at_ms: r.try_get("at_ms")?,
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target_kind: r.try_get("target_kind")?,
                            target_id: r.try_get("target_id")?,
                            before: text(r, "before")?,
                            after: text(r, "after")?,
                            address: r.try_get("address")?,
                        });
                    }
                    Ok(out)
                })
            }

            fn spend<'a>(
                &'a self,
                by: $crate::governance::SpendGroup,
                since_ms: Option<i64>,
                until_ms: Option<i64>,
                team: Option<&'a str>,
            ) -> $crate::StoreFuture<'a, Vec<$crate::governance::SpendRow>> {
                Box::pin(async move {
                    use sqlx::Row;
                    let column = by.column();
                    let mut q = sqlx::QueryBuilder::<$db>::new("SELECT ");
                    q.push(column).push(
                        " AS grp, COUNT(*) AS calls, CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, \
                         CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, SUM(COALESCE(cost_usd, 0)) AS cost_usd \
                         FROM invocations WHERE 1=1",
                    );
                    if let Some(s) = since_ms {
                        q.push(" AND created_at_ms >= ").push_bind(s);
                    }
                    if let Some(u) = until_ms {
                        q.push(" AND created_at_ms < ").push_bind(u);
                    }
                    if let Some(t) = team {
                        q.push(" AND team_id = ").push_bind(t);
                    }
                    q.push(" GROUP BY ").push(column);
                    let rows = q.build().fetch_all(&self.pool).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in &rows {
                        let group = match by {
                            $crate::governance::SpendGroup::Day => {
                                r.try_get::<Option<i64>, _>("grp")?.map(|ms| ms.to_string())
                            }
                            _ => r.try_get::<Option<String>, _>("grp")?,
                        };
                        out.push($crate::governance::SpendRow {
                            group,
                            calls: r.try_get("calls")?,
                            input_tokens: r.try_get::<Option<i64>, _>("input_tokens")?.unwrap_or(0),
                            output_tokens: r.try_get::<Option<i64>, _>("output_tokens")?.unwrap_or(0),
                            cost_usd: r.try_get::<Option<f64>, _>("cost_usd")?.unwrap_or(0.0),
                        });
                    }
                    Ok(out)
                })
            }

            fn daily_spend_since(&self, day: i64) -> $crate::StoreFuture<'_, Vec<$crate::governance::DailySpend>> {
                Box::pin(async move {
                    use sqlx::Row;
                    let rows = sqlx::query("SELECT scope, day, cost_usd, tokens, calls FROM spend_daily WHERE day >= $1")
                        .bind(day)
                        .fetch_all(&self.pool)
                        .await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in &rows {
                        out.push($crate::governance::DailySpend {
                            scope: r.try_get("scope")?,
                            day: r.try_get("day")?,
                            cost_usd: r.try_get("cost_usd")?,
                            tokens: r.try_get("tokens")?,
                            calls: r.try_get("calls")?,
                        });
                    }
                    Ok(out)
                })
            }

            fn claim_alert<'a>(
                &'a self,
                scope: &'a str,
                period_start_ms: i64,
                threshold: i64,
            ) -> $crate::StoreFuture<'a, bool> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "INSERT INTO budget_alerts (scope, period_start_ms, threshold, fired_at_ms) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(scope)
                    .bind(period_start_ms)
                    .bind(threshold)
                    .bind($crate::timefmt::now_ms())
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                })
            }
        }
    };
}
