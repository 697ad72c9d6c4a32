//! The Redis counters against the local Redis (127.0.0.1:6379): two ledgers
//! stand for two Keel nodes sharing one Redis.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::sync::Arc;

use keel_policy::ledger::{Ask, RefusalKind};
use keel_policy::{Clock, Estimate, Held, Ledger, Principal, RedisLedger, WhenDown};
use keel_store::governance::{DailySpend, Limits, Period};

const REDIS: &str = "redis://127.0.0.1:6379";

async fn node(prefix: &str, clock: &Clock) -> Arc<RedisLedger> {
    let local = Ledger::new(clock.clone(), vec![]);
    RedisLedger::connect(
        REDIS,
        prefix,
        WhenDown::FailClosed,
        local,
        vec![50, 100],
        Box::new(|_| {}),
    )
    .await
    .expect("Redis runs on 127.0.0.1:6379")
}

fn prefix() -> String {
    format!("keel-test-{}", uuid::Uuid::now_v7().simple())
}

fn principal(limits: Limits) -> Principal {
    Principal {
        key_id: "k1".into(),
        limits: vec![("key:k1".into(), limits)],
        ..Principal::default()
    }
}

fn ask<'a>(p: &'a Principal, usd: f64, run: Option<&'a str>) -> Ask<'a> {
    Ask {
        principal: p,
        model: None,
        run,
        estimate: Estimate { usd, tokens: 10 },
    }
}

/// Deletes every key a test wrote under `prefix` in the shared Redis.
async fn forget(prefix: &str) {
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

/// Waits (polling) until the budget holds nothing in flight.
async fn settled(node: &RedisLedger, scope: &str, period: Period) -> (f64, u64, f64, u64) {
    for _ in 0..500 {
        let standing = node.standing(scope, period).await.unwrap();
        if standing.2 == 0.0 {
            return standing;
        }
        tokio::task::yield_now().await;
    }
    panic!("reservations never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_spend_past_one_budget() {
    let clock = Clock::system();
    let prefix = prefix();
    let (a, b) = (node(&prefix, &clock).await, node(&prefix, &clock).await);
    let p = Arc::new(principal(Limits {
        budget_usd: Some(1.0),
        budget_period: Some(Period::Monthly),
        ..Limits::default()
    }));
    let mut calls = Vec::new();
    for i in 0..200 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let p = p.clone();
        calls.push(tokio::spawn(async move {
            node.reserve(&ask(&p, 0.03, None)).await
        }));
    }
    let mut held = Vec::new();
    for call in calls {
        if let Ok(r) = call.await.unwrap() {
            held.push(r);
        }
    }
    assert_eq!(held.len(), 33, "0.03 × 33 ≤ 1.0 with every call in flight");
    let now = clock.now_ms();
    for r in held {
        r.settle(
            Estimate {
                usd: 0.01,
                tokens: 5,
            },
            now,
        );
    }
    let (spent, tokens, reserved, _) = settled(&a, "key:k1", Period::Monthly).await;
    assert!((spent - 0.33).abs() < 1e-9, "{spent}");
    assert_eq!(tokens, 165);
    assert_eq!(reserved, 0.0);
    assert!(matches!(
        b.reserve(&ask(&p, 0.03, None)).await,
        Ok(Held::Redis(_))
    ));
    forget(&prefix).await;
}

#[tokio::test]
async fn a_released_reservation_spends_nothing_and_rpm_is_shared() {
    let clock = Clock::system();
    let prefix = prefix();
    let (a, b) = (node(&prefix, &clock).await, node(&prefix, &clock).await);
    let p = principal(Limits {
        rpm: Some(3),
        budget_usd: Some(0.1),
        ..Limits::default()
    });
    let first = a.reserve(&ask(&p, 0.1, None)).await.unwrap();
    assert!(first
        .headers()
        .contains(&("x-ratelimit-remaining-requests", "2".into())));
    assert_eq!(
        b.reserve(&ask(&p, 0.01, None)).await.unwrap_err().kind,
        RefusalKind::Budget
    );
    drop(first);
    let (spent, _, _, _) = settled(&a, "key:k1", Period::Total).await;
    assert_eq!(spent, 0.0);
    // A refused call takes nothing: this is the second and third request.
    b.reserve(&ask(&p, 0.01, None)).await.unwrap();
    a.reserve(&ask(&p, 0.01, None)).await.unwrap();
    let refused = b.reserve(&ask(&p, 0.01, None)).await.unwrap_err();
    assert_eq!(
        refused.kind,
        RefusalKind::Requests,
        "three requests across both nodes: {refused:?}"
    );
    assert!(refused.retry_after_s.unwrap() >= 1);
    forget(&prefix).await;
}

#[tokio::test]
async fn runs_are_shared_and_stored_spend_is_seeded_once() {
    let clock = Clock::system();
    let prefix = prefix();
    let (a, b) = (node(&prefix, &clock).await, node(&prefix, &clock).await);
    let today = keel_policy::period::day_of(clock.now_ms());
    let rows = [DailySpend {
        scope: "key:k1".into(),
        day: today,
        cost_usd: 0.5,
        tokens: 7,
        calls: 2,
    }];
    assert!(a.seed_once(&rows).await.unwrap());
    assert!(
        !b.seed_once(&rows).await.unwrap(),
        "a second node does not add it again"
    );
    assert_eq!(b.standing("key:k1", Period::Daily).await.unwrap().0, 0.5);

    let p = principal(Limits {
        run_budget_usd: Some(0.25),
        ..Limits::default()
    });
    let now = clock.now_ms();
    a.reserve(&ask(&p, 0.1, Some("run-1")))
        .await
        .unwrap()
        .settle(
            Estimate {
                usd: 0.1,
                tokens: 1,
            },
            now,
        );
    let r = b.reserve(&ask(&p, 0.1, Some("run-1"))).await.unwrap();
    let refused = a.reserve(&ask(&p, 0.1, Some("run-1"))).await.unwrap_err();
    assert_eq!(refused.kind, RefusalKind::RunBudget);
    assert!(refused.message.contains("run-1"));
    assert!(a.reserve(&ask(&p, 0.1, Some("run-2"))).await.is_ok());
    drop(r);
    forget(&prefix).await;
}

/// A Redis server of the test's own, on a free port, so the test can stop
/// it and start it again.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed with Redis");
        OwnRedis { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn ready(&self) {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("redis-server did not start");
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn losing_redis_refuses_or_falls_back_as_configured_and_reconciles() {
    let port = free_port();
    let redis = OwnRedis::start(port);
    redis.ready().await;
    let clock = Clock::system();
    let url = redis.url();
    let connect = |when_down| {
        let local = Ledger::new(clock.clone(), vec![]);
        let url = url.clone();
        async move {
            RedisLedger::connect(&url, "keel", when_down, local, vec![], Box::new(|_| {})).await
        }
    };
    let closed = connect(WhenDown::FailClosed).await.unwrap();
    let open = connect(WhenDown::FailOpen).await.unwrap();
    let p = principal(Limits {
        budget_usd: Some(1.0),
        ..Limits::default()
    });
    assert!(matches!(
        closed.reserve(&ask(&p, 0.1, None)).await,
        Ok(Held::Redis(_))
    ));

    redis.stop();
    let refused = closed.reserve(&ask(&p, 0.1, None)).await.unwrap_err();
    assert_eq!(refused.kind, RefusalKind::Unavailable);
    assert_eq!(refused.retry_after_s, Some(1));
    let fallback = open.reserve(&ask(&p, 0.1, None)).await.unwrap();
    assert!(matches!(fallback, Held::Fallback(..)), "{fallback:?}");
    fallback.settle(
        Estimate {
            usd: 0.25,
            tokens: 3,
        },
        clock.now_ms(),
    );

    // Redis comes back empty: the spend settled meanwhile reaches it.
    let redis = OwnRedis::start(port);
    redis.ready().await;
    assert_eq!(redis.url(), url);
    let mut seen = 0.0;
    for _ in 0..500 {
        open.flush_pending().await;
        if let Some((spent, _, _, _)) = open.standing("key:k1", Period::Total).await {
            seen = spent;
            if spent > 0.0 {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!((seen - 0.25).abs() < 1e-9, "{seen}");
    redis.stop();
}
