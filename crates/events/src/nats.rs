//! NATS JetStream as the bus (`--events nats://…`): one file-backed stream for
//! every event type, subjects `<prefix>.<EventType>`, durable pull consumers
//! with explicit acks. Each event is published with its `eventId` as the
//! `Nats-Msg-Id`, so JetStream drops the duplicate a relay produces when it
//! crashes between publishing and marking (within the 2-minute window;
//! consumers' processed-ID tables catch anything later).
//!
//! `--events nats://A,nats://B,nats://C` names a JetStream cluster: the stream
//! is replicated on as many servers as are named (up to 5), so a publish is
//! acknowledged once a majority holds it and one crashed server loses nothing.
//! One server alone (R1) does not fsync before acknowledging (nats-server 2.9
//! has no `sync_interval`): a crash of its process can lose the events it
//! acknowledged in its last milliseconds, as the chaos suite showed.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_trait::async_trait;
use futures_util::StreamExt as _;

use crate::bus::{Bus, BusError, Delivery, Settle, Subscription};
use crate::event::{Event, EventType};

/// How long the stream keeps an event: far longer than any outage the outboxes
/// ride out, short enough that an abandoned deployment's stream empties.
const MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
/// How long JetStream remembers message IDs to drop duplicates.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long a delivered event may stay unacknowledged before redelivery.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// JetStream's largest replication factor.
const MAX_REPLICAS: usize = 5;
/// How long a nacked event waits before redelivery.
const NAK_DELAY: Duration = Duration::from_millis(500);

/// The bus on a NATS server with JetStream.
#[derive(Debug, Clone)]
pub struct NatsBus {
    js: jetstream::Context,
    stream: String,
    prefix: String,
}

/// Which group an event type's subject is in.
fn group(event_type: EventType) -> &'static str {
    match event_type {
        EventType::OrderCreated => "order",
        EventType::StockReserved | EventType::StockRejected => "stock",
        EventType::OrderConfirmed | EventType::OrderRejected => "outcome",
    }
}

fn bus_error(what: &str) -> impl FnOnce(async_nats::Error) -> BusError + '_ {
    move |e| BusError::Unavailable(format!("{what}: {e}"))
}

impl NatsBus {
    /// Connects to `url` (a password in it is never printed): one server, or
    /// a cluster's comma-separated, the stream then replicated on each; the
    /// stream named `stream` and subjects under `prefix` (tests use their own).
    /// Once connected, the client reconnects by itself when the server
    /// returns; publishing meanwhile fails fast and the outboxes keep the events.
    ///
    /// # Errors
    /// [`BusError`] when the server cannot be reached within `timeout` or has
    /// no JetStream.
    pub async fn connect(
        url: &str,
        stream: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, BusError> {
        let servers: Vec<&str> = url.split(',').map(str::trim).collect();
        let replicas = servers.len().min(MAX_REPLICAS);
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .max_reconnects(None)
            .connect(servers)
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot reach NATS: {}", e.kind())))?;
        let mut js = jetstream::new(client);
        js.set_timeout(timeout);
        js.get_or_create_stream(stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("{prefix}.>")],
            storage: StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            max_age: MAX_AGE,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| BusError::Unavailable(format!("JetStream stream {stream}: {e}")))?;
        Ok(Self {
            js,
            stream: stream.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `<prefix>.<group>.<EventType>`: the types a consumer hears share a
    /// group, so one wildcard filter selects them (NATS servers before 2.10,
    /// Debian 12's included, take a single filter subject per consumer).
    fn subject(&self, event_type: EventType) -> String {
        format!(
            "{}.{}.{}",
            self.prefix,
            group(event_type),
            event_type.as_str()
        )
    }

    /// The one filter subject for `types`.
    fn filter(&self, types: &[EventType]) -> String {
        match types {
            [one] => self.subject(*one),
            [first, rest @ ..] if rest.iter().all(|t| group(*t) == group(*first)) => {
                format!("{}.{}.*", self.prefix, group(*first))
            }
            _ => format!("{}.>", self.prefix),
        }
    }

    /// Deletes the stream (tests clean up with it).
    ///
    /// # Errors
    /// [`BusError`] when the server refuses.
    pub async fn delete(&self) -> Result<(), BusError> {
        self.js
            .delete_stream(&self.stream)
            .await
            .map(|_| ())
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let message = PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(&event.event_id);
        let ack = self
            .js
            .send_publish(self.subject(event.event_type), message)
            .await
            .map_err(|e| {
                use async_nats::jetstream::context::PublishErrorKind;
                match e.kind() {
                    PublishErrorKind::MaxPayloadExceeded => BusError::Rejected(e.to_string()),
                    _ => BusError::Unavailable(format!("publish: {e}")),
                }
            })?;
        // Published only when JetStream has stored it.
        ack.await
            .map(|_| ())
            .map_err(|e| bus_error("publish ack")(e.into()))
    }

    async fn subscribe(
        &self,
        consumer: &str,
        types: &[EventType],
    ) -> Result<Box<dyn Subscription>, BusError> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| bus_error("stream")(e.into()))?;
        let config = pull::Config {
            durable_name: Some(consumer.to_owned()),
            filter_subject: self.filter(types),
            ack_policy: AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(consumer, config)
            .await
            .map_err(|e| bus_error("consumer")(e.into()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| bus_error("messages")(e.into()))?;
        Ok(Box::new(NatsSubscription {
            messages,
            types: types.to_vec(),
        }))
    }
}

struct NatsSubscription {
    messages: pull::Stream,
    /// What this consumer hears (a wide filter may bring others).
    types: Vec<EventType>,
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            match self.messages.next().await? {
                Ok(message) => {
                    let parsed = std::str::from_utf8(&message.payload)
                        .ok()
                        .and_then(|text| Event::from_json(text).ok());
                    match parsed {
                        Some(event) if self.types.contains(&event.event_type) => {
                            return Some(Delivery::new(event, Box::new(NatsSettle(message))));
                        }
                        Some(_) => {
                            // Another consumer's type: done here.
                            let _ = message.ack().await;
                        }
                        None => {
                            // Never an event: stop its redelivery.
                            tracing::warn!("dropping a message that is not an event");
                            let _ = message.ack_with(AckKind::Term).await;
                        }
                    }
                }
                Err(e) => {
                    // The server went away: the stream ends, the consumer
                    // loop subscribes again.
                    tracing::debug!("JetStream consumer: {e}");
                    return None;
                }
            }
        }
    }
}

struct NatsSettle(jetstream::Message);

#[async_trait]
impl Settle for NatsSettle {
    async fn ack(self: Box<Self>) {
        if let Err(e) = self.0.ack().await {
            // Unacknowledged: JetStream delivers it again after ACK_WAIT, and
            // the consumer's processed-ID table absorbs the repeat.
            tracing::debug!("ack failed: {e}");
        }
    }

    async fn nack(self: Box<Self>) {
        let _ = self.0.ack_with(AckKind::Nak(Some(NAK_DELAY))).await;
    }
}
