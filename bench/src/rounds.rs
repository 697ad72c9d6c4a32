//! Interleaved rounds: every target (or job) runs once per round, in the
//! given order in even rounds and in reverse in odd ones (direct, proxy,
//! keel, then keel, proxy, direct, …), so drift in machine load hits all
//! of them alike.

use std::future::Future;

use crate::client::Target;
use crate::results::Sides;

/// Runs `f` on every measured side for `rounds` rounds, interleaved.
pub async fn each_round<T, F, Fut>(targets: &Sides<Target>, rounds: usize, f: F) -> Sides<Vec<T>>
where
    F: FnMut(Target) -> Fut,
    Fut: Future<Output = T>,
{
    let list: Vec<Target> = all(targets).into_iter().cloned().collect();
    let mut runs = each_round_of(&list, rounds, f).await.into_iter();
    Sides {
        direct: runs.next().unwrap_or_default(),
        proxy: targets.proxy.as_ref().and_then(|_| runs.next()),
        keel: targets.keel.as_ref().and_then(|_| runs.next()),
    }
}

/// Runs `f` on every item for `rounds` rounds, in the given order in even
/// rounds and in reverse in odd ones; one list of results per item.
pub async fn each_round_of<I, T, F, Fut>(items: &[I], rounds: usize, mut f: F) -> Vec<Vec<T>>
where
    I: Clone,
    F: FnMut(I) -> Fut,
    Fut: Future<Output = T>,
{
    let mut out: Vec<Vec<T>> = items.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..items.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            out[i].push(f(items[i].clone()).await);
        }
    }
    out
}

/// Every measured side's target, in round order.
pub fn all(targets: &Sides<Target>) -> Vec<&Target> {
    std::iter::once(&targets.direct)
        .chain(&targets.proxy)
        .chain(&targets.keel)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_every_other_round() {
        let order = std::cell::RefCell::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(each_round_of(&['d', 'p', 'k'], 3, |c| {
            order.borrow_mut().push(c);
            async move { c }
        }));
        assert_eq!(order.into_inner(), "dpkkpddpk".chars().collect::<Vec<_>>());
        assert_eq!(out[1], vec!['p'; 3]);
    }
}
