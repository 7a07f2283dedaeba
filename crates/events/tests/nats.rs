//! The JetStream bus against the real nats-server named by
//! `STATECRAFT_TEST_NATS_URL` (scripts/test starts one). Each test owns a
//! stream and subject prefix and deletes the stream afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use statecraft_events::{Bus, Event, EventType, NatsBus};

async fn bus() -> Option<NatsBus> {
    let url = statecraft_testkit::service_url("STATECRAFT_TEST_NATS_URL", "the NATS bus tests")?;
    let name = format!("test-{:016x}", rand::random::<u64>());
    Some(
        NatsBus::connect(&url, &name, &name, Duration::from_secs(5))
            .await
            .expect("STATECRAFT_TEST_NATS_URL is set, so NATS must answer"),
    )
}

async fn next_within(
    sub: &mut Box<dyn statecraft_events::Subscription>,
    secs: u64,
) -> Option<statecraft_events::Delivery> {
    tokio::time::timeout(Duration::from_secs(secs), sub.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn durable_consumers_get_kept_events_and_redeliveries_once_acked() {
    let Some(bus) = bus().await else { return };
    let created = Event::new(EventType::OrderCreated, "order-1", "user-1", vec![]);
    // Published before anyone subscribed: kept by the stream.
    bus.publish(&created).await.unwrap();
    bus.publish(&Event::new(
        EventType::OrderConfirmed,
        "order-1",
        "user-1",
        vec![],
    ))
    .await
    .unwrap();
    // The relay published again after a crash: the same eventId is dropped.
    bus.publish(&created).await.unwrap();
    let mut sub = bus
        .subscribe("inventory", &[EventType::OrderCreated])
        .await
        .unwrap();
    let first = next_within(&mut sub, 5).await.unwrap();
    assert_eq!(first.event, created);
    first.nack().await;
    let again = next_within(&mut sub, 5).await.unwrap();
    assert_eq!(again.event.event_id, created.event_id);
    again.ack().await;
    // Nothing more: not the duplicate, not the other type.
    assert!(next_within(&mut sub, 2).await.is_none());
    bus.delete().await.unwrap();
}
