#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use keel_store::governance::{DailySpend, Limits, Period};

use super::*;
use crate::clock::Clock;
use crate::principal::Principal;

/// 2026-12-04 18:00 UTC.
const NOW: i64 = 1_796_407_200_000;

fn principal(limits: Limits) -> Principal {
    Principal {
        key_id: "k1".into(),
        limits: vec![("key:k1".into(), limits)],
        ..Principal::default()
    }
}

fn ask<'a>(p: &'a Principal, usd: f64, tokens: u64, run: Option<&'a str>) -> Ask<'a> {
    Ask {
        principal: p,
        model: None,
        run,
        estimate: Estimate { usd, tokens },
    }
}

fn budget(usd: f64, period: Period) -> Limits {
    Limits {
        budget_usd: Some(usd),
        budget_period: Some(period),
        ..Limits::default()
    }
}

#[test]
fn concurrent_reservations_never_exceed_the_budget() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = Arc::new(principal(budget(1.0, Period::Monthly)));
    let granted = std::sync::atomic::AtomicU32::new(0);
    let all_reserved = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let mut held = Vec::new();
                for _ in 0..100 {
                    if let Ok(r) = ledger.reserve(&ask(&p, 0.03, 0, None)) {
                        granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        held.push(r);
                    }
                }
                all_reserved.wait();
                for r in held {
                    // Each used a third of its worst case.
                    r.settle(
                        Estimate {
                            usd: 0.01,
                            tokens: 0,
                        },
                        NOW,
                    );
                }
            });
        }
    });
    // 33 × 0.03 ≤ 1.0 while all were in flight.
    assert_eq!(granted.into_inner(), 33);
    let (spent, _, reserved, _) = ledger.standing("key:k1", Period::Monthly);
    assert!((spent - 0.33).abs() < 1e-9, "{spent}");
    assert_eq!(reserved, 0.0, "no reservation is left behind");
    // With the real spend settled, more calls fit again.
    assert!(ledger.reserve(&ask(&p, 0.03, 0, None)).is_ok());
}

#[test]
fn a_dropped_reservation_is_released_and_spends_nothing() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = principal(budget(0.10, Period::Daily));
    let r = ledger.reserve(&ask(&p, 0.10, 0, None)).unwrap();
    assert_eq!(
        ledger.reserve(&ask(&p, 0.01, 0, None)).unwrap_err().kind,
        RefusalKind::Budget
    );
    drop(r);
    assert_eq!(ledger.standing("key:k1", Period::Daily), (0.0, 0, 0.0, 0));
    assert!(ledger.reserve(&ask(&p, 0.10, 0, None)).is_ok());
}

#[test]
fn budgets_roll_over_at_the_utc_period_boundary_and_name_the_reset() {
    let clock = Clock::manual(NOW);
    let ledger = Ledger::new(clock.clone(), vec![]);
    let p = principal(budget(1.0, Period::Daily));
    ledger.reserve(&ask(&p, 1.0, 0, None)).unwrap().settle(
        Estimate {
            usd: 1.0,
            tokens: 10,
        },
        NOW,
    );
    let refusal = ledger.reserve(&ask(&p, 0.0, 0, None)).unwrap_err();
    assert!(refusal.message.contains("key:k1"), "{}", refusal.message);
    assert!(
        refusal.message.contains("2026-12-05T00:00:00Z"),
        "{}",
        refusal.message
    );
    assert_eq!(refusal.retry_after_s, Some(6 * 3600));
    clock.advance(6 * 3_600_000);
    assert!(
        ledger.reserve(&ask(&p, 0.5, 0, None)).is_ok(),
        "a new day starts fresh"
    );
    // A total budget sees every day.
    let total = principal(budget(1.0, Period::Total));
    assert!(ledger.reserve(&ask(&total, 0.01, 0, None)).is_err());
}

#[test]
fn stored_spend_counts_after_a_restart() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let today = crate::period::day_of(NOW);
    ledger.seed(&[
        DailySpend {
            scope: "key:k1".into(),
            day: today,
            cost_usd: 0.6,
            tokens: 100,
            calls: 3,
        },
        DailySpend {
            scope: "key:k1".into(),
            day: today - 10,
            cost_usd: 0.3,
            tokens: 50,
            calls: 1,
        },
    ]);
    assert!(ledger
        .reserve(&ask(&principal(budget(0.7, Period::Daily)), 0.2, 0, None))
        .is_err());
    assert!(ledger
        .reserve(&ask(&principal(budget(0.7, Period::Weekly)), 0.1, 0, None))
        .is_ok());
    assert!(ledger
        .reserve(&ask(&principal(budget(0.95, Period::Total)), 0.1, 0, None))
        .is_err());
}

#[test]
fn token_budgets_count_tokens() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = principal(Limits {
        budget_tokens: Some(1000),
        ..Limits::default()
    });
    ledger.reserve(&ask(&p, 0.0, 900, None)).unwrap().settle(
        Estimate {
            usd: 0.0,
            tokens: 700,
        },
        NOW,
    );
    assert!(ledger.reserve(&ask(&p, 0.0, 300, None)).is_ok());
    assert!(ledger.reserve(&ask(&p, 0.0, 301, None)).is_err());
}

#[test]
fn a_run_stops_at_its_budget_and_a_new_run_goes_on() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = principal(Limits {
        run_budget_usd: Some(0.5),
        ..Limits::default()
    });
    for _ in 0..5 {
        ledger
            .reserve(&ask(&p, 0.1, 0, Some("run-a")))
            .unwrap()
            .settle(
                Estimate {
                    usd: 0.1,
                    tokens: 0,
                },
                NOW,
            );
    }
    let refusal = ledger
        .reserve(&ask(&p, 0.01, 0, Some("run-a")))
        .unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::RunBudget);
    assert!(refusal.message.contains("run-a"));
    assert!(ledger.reserve(&ask(&p, 0.1, 0, Some("run-b"))).is_ok());
}

#[test]
fn rpm_refuses_with_retry_after_and_openai_headers() {
    let clock = Clock::manual(NOW);
    let ledger = Ledger::new(clock.clone(), vec![]);
    let p = principal(Limits {
        rpm: Some(2),
        ..Limits::default()
    });
    let first = ledger.reserve(&ask(&p, 0.0, 0, None)).unwrap();
    assert!(first
        .headers
        .contains(&("x-ratelimit-remaining-requests", "1".into())));
    ledger.reserve(&ask(&p, 0.0, 0, None)).unwrap();
    let refusal = ledger.reserve(&ask(&p, 0.0, 0, None)).unwrap_err();
    assert_eq!(refusal.kind, RefusalKind::Requests);
    assert_eq!(refusal.retry_after_s, Some(30));
    assert!(refusal
        .headers
        .contains(&("x-ratelimit-limit-requests", "2".into())));
    assert!(refusal
        .headers
        .contains(&("x-ratelimit-remaining-requests", "0".into())));
    clock.advance(30_000);
    assert!(ledger.reserve(&ask(&p, 0.0, 0, None)).is_ok());
}

#[test]
fn tpm_reserves_the_worst_case_and_gives_back_the_unused_part() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = principal(Limits {
        tpm: Some(1000),
        ..Limits::default()
    });
    let r = ledger.reserve(&ask(&p, 0.0, 800, None)).unwrap();
    assert_eq!(
        ledger.reserve(&ask(&p, 0.0, 300, None)).unwrap_err().kind,
        RefusalKind::Tokens
    );
    r.settle(
        Estimate {
            usd: 0.0,
            tokens: 100,
        },
        NOW,
    );
    assert!(ledger.reserve(&ask(&p, 0.0, 800, None)).is_ok());
    let too_big = ledger.reserve(&ask(&p, 0.0, 5000, None)).unwrap_err();
    assert!(too_big.message.contains("5000"), "{}", too_big.message);
}

#[test]
fn one_limit_refusing_reserves_nothing_anywhere() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![]);
    let p = Principal {
        key_id: "k1".into(),
        limits: vec![
            ("key:k1".into(), budget(10.0, Period::Monthly)),
            ("team:t1".into(), budget(0.5, Period::Monthly)),
        ],
        ..Principal::default()
    };
    assert!(ledger.reserve(&ask(&p, 1.0, 0, None)).is_err());
    assert_eq!(ledger.standing("key:k1", Period::Monthly).2, 0.0);
}

#[test]
fn thresholds_are_announced_once_per_period() {
    let clock = Clock::manual(NOW);
    let ledger = Ledger::new(clock.clone(), vec![50, 80, 100]);
    let p = principal(budget(1.0, Period::Daily));
    let spend = |usd| {
        ledger
            .reserve(&ask(&p, usd, 0, None))
            .unwrap()
            .settle(Estimate { usd, tokens: 0 }, clock.now_ms())
    };
    assert!(spend(0.4).is_empty());
    let crossed = spend(0.45);
    assert_eq!(
        crossed.iter().map(|c| c.threshold).collect::<Vec<_>>(),
        vec![50, 80]
    );
    assert_eq!(crossed[0].scope, "key:k1");
    assert!(spend(0.05).is_empty(), "80% is not announced twice");
    assert_eq!(
        spend(0.1).iter().map(|c| c.threshold).collect::<Vec<_>>(),
        vec![100]
    );
    clock.advance(86_400_000);
    assert_eq!(
        spend(0.6).iter().map(|c| c.threshold).collect::<Vec<_>>(),
        vec![50],
        "a new period announces again"
    );
}

#[test]
fn a_budget_that_refuses_a_call_announces_100_percent_once() {
    let ledger = Ledger::new(Clock::manual(NOW), vec![50, 80, 100]);
    let p = principal(budget(1.0, Period::Daily));
    let crossed = ledger.reserve(&ask(&p, 0.7, 0, None)).unwrap().settle(
        Estimate {
            usd: 0.7,
            tokens: 0,
        },
        NOW,
    );
    assert_eq!(
        crossed.iter().map(|c| c.threshold).collect::<Vec<_>>(),
        vec![50]
    );
    // 0.3 is left, but this call's worst case is 0.5: refused, and the
    // budget counts as exhausted.
    let refusal = ledger.reserve(&ask(&p, 0.5, 0, None)).unwrap_err();
    assert!(
        refusal.message.contains("too little left"),
        "{}",
        refusal.message
    );
    assert!(refusal.message.contains("$0.50"), "{}", refusal.message);
    assert_eq!(
        refusal
            .crossed
            .iter()
            .map(|c| c.threshold)
            .collect::<Vec<_>>(),
        vec![80, 100]
    );
    assert!(ledger
        .reserve(&ask(&p, 0.5, 0, None))
        .unwrap_err()
        .crossed
        .is_empty());
}

#[test]
fn small_amounts_of_money_read_exactly() {
    assert_eq!(format_usd(100.0), "$100.00");
    assert_eq!(format_usd(0.0008), "$0.0008");
    assert_eq!(format_usd(0.25), "$0.25");
    assert_eq!(format_usd(0.000125), "$0.000125");
    assert_eq!(format_usd(0.0), "$0.00");
}
