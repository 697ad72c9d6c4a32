use std::time::Duration;

use keel_store::writer::{channel, WriterConfig};
use keel_store::{Attempt, Durability};

use crate::{sample, TestStore};

#[tokio::test]
async fn batched_writer_stores_everything_before_it_ends() {
    for t in TestStore::both().await {
        let config = WriterConfig {
            capacity: 16,
            max_batch: 7,
            ..Default::default()
        };
        let (sink, writer) = channel(t.store.clone(), config, None);
        let task = tokio::spawn(writer.run());
        for n in 0..100 {
            // capacity 16 < 100: back-pressure, never a drop.
            assert!(sink.submit(Box::new(move || sample(n))).await.is_none());
        }
        drop(sink);
        task.await.unwrap();
        assert_eq!(t.store.count().await.unwrap(), 100, "{}", t.store.backend());
        t.cleanup().await;
    }
}

#[tokio::test]
async fn sync_writer_acknowledges_after_commit() {
    for t in [
        TestStore::sqlite(Durability::Sync).await,
        TestStore::postgres().await,
    ] {
        let config = WriterConfig {
            durability: Durability::Sync,
            flush_interval: Duration::from_secs(3600),
            ..Default::default()
        };
        let (sink, writer) = channel(t.store.clone(), config, None);
        let task = tokio::spawn(writer.run());
        for n in 0..5 {
            let ack = sink
                .submit(Box::new(move || sample(n)))
                .await
                .expect("sync mode acks");
            ack.await.unwrap();
            assert_eq!(
                t.store.count().await.unwrap(),
                n + 1,
                "committed before the ack"
            );
        }
        drop(sink);
        task.await.unwrap();
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_nul_character_cannot_jam_the_writer() {
    for t in TestStore::both().await {
        let (sink, writer) = channel(t.store.clone(), WriterConfig::default(), None);
        let task = tokio::spawn(writer.run());
        sink.submit(Box::new(|| {
            let mut r = sample(1);
            r.requested_model = Some("bad\0model".into());
            r.error_message = Some("model 'bad\0model' does not exist".into());
            r.attempt_list = vec![Attempt {
                provider: "pri\0mary".into(),
                model: "bad\0model".into(),
                status: Some(404),
                error_class: Some("upstream\0status".into()),
                latency_ms: 1.5,
            }];
            r
        }))
        .await;
        sink.submit(Box::new(|| sample(2))).await;
        drop(sink);
        task.await.unwrap();
        let stored = t
            .store
            .list(&keel_store::LogFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(stored.len(), 2, "{}", t.store.backend());
        let bad = stored
            .iter()
            .find(|r| r.requested_model.as_deref() == Some("bad\u{FFFD}model"))
            .unwrap();
        assert_eq!(
            bad.attempt_list,
            [Attempt {
                provider: "pri\u{FFFD}mary".into(),
                model: "bad\u{FFFD}model".into(),
                status: Some(404),
                error_class: Some("upstream\u{FFFD}status".into()),
                latency_ms: 1.5,
            }],
            "{}",
            t.store.backend()
        );
        t.cleanup().await;
    }
}
