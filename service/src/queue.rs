//! The job queue and the events exchange: RabbitMQ in production, an
//! in-process queue for the embedded runner, one interface for both.
//!
//! On RabbitMQ (names from [`Names`]):
//! - jobs go to the durable queue `formflow.jobs`, a quorum queue where the
//!   broker has them, persistent and confirmed by the broker before the
//!   outbox lets them go; workers take them with a prefetch and ack only
//!   after the outcome is committed;
//! - a job that keeps killing its worker is dead-lettered by the broker
//!   after [`DELIVERY_LIMIT`] deliveries; one a worker gives up on is
//!   published to `formflow.jobs.dead` with the reason in the header
//!   `x-formflow-reason`, then acked;
//! - events go to the durable topic exchange `formflow.events` with their
//!   name as routing key (`document.extracted`, ...).
//!
//! The in-process queue keeps jobs in memory: what it loses with its process
//! the embedded runner puts back from the database when it starts
//! ([`crate::Db::requeue_unfinished`]).

use crate::db::{OutboxKind, OutboxRow};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Mutex};
use uuid::Uuid;

/// Deliveries after which the broker dead-letters a job by itself (a file
/// that crashes every worker that takes it). Workers give up sooner, on the
/// attempts they count in the database.
pub const DELIVERY_LIMIT: i64 = 10;

/// Messages waiting in the queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depths {
    /// Jobs waiting to be taken (not counting those a worker holds).
    pub jobs: u64,
    /// Jobs in the dead-letter queue: given up by a worker (with the reason
    /// in `x-formflow-reason`), or dead-lettered by the broker after
    /// [`DELIVERY_LIMIT`] deliveries. They stay until a person takes them.
    pub dead: u64,
}

/// A unit of work on one document.
///
/// On the wire, `{"document_id": ...}` for the document's own job, with
/// `"task": {"page": N}` or `"task": "join"` for the jobs of a stack spread
/// over workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The document.
    pub document_id: Uuid,
    /// What to do with it.
    #[serde(default, skip_serializing_if = "Task::is_document")]
    pub task: Task,
}

/// What a job asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Take the document: read it whole, or split it into page jobs (or,
    /// when its pages are all read, join them).
    #[default]
    Document,
    /// Read this page (from 1) of a document split into page jobs.
    Page(u32),
    /// Every page of a split document is read: join them into records.
    Join,
}

impl Task {
    /// Whether this is the document's own job.
    pub fn is_document(&self) -> bool {
        *self == Task::Document
    }
}

impl Job {
    /// The document's own job.
    pub fn document(document_id: Uuid) -> Job {
        Job {
            document_id,
            task: Task::Document,
        }
    }
}

/// Why the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// RabbitMQ could not be reached or refused an operation.
    #[error("RabbitMQ could not be used: {0}")]
    Amqp(#[from] lapin::Error),
    /// RabbitMQ did not take a message.
    #[error("RabbitMQ refused the message")]
    Nacked,
    /// The in-process queue is closed (the runner is stopping).
    #[error("the in-process queue is closed")]
    Closed,
}

/// The names a deployment (or a test) uses on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The jobs queue; its dead letters go to `<jobs>.dead`.
    pub jobs: String,
    /// The events exchange.
    pub events: String,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            jobs: "formflow.jobs".into(),
            events: "formflow.events".into(),
        }
    }
}

impl Names {
    /// The queue dead jobs go to.
    pub fn dead(&self) -> String {
        format!("{}.dead", self.jobs)
    }
}

/// The queue, on RabbitMQ or in process.
#[derive(Clone)]
pub enum Broker {
    /// RabbitMQ.
    Rabbit(Arc<Rabbit>),
    /// In process.
    Memory(Arc<Memory>),
}

/// A connection to RabbitMQ, opened on first use and again after it breaks.
pub struct Rabbit {
    uri: String,
    names: Names,
    link: Mutex<Option<(Arc<Connection>, Channel)>>,
}

/// The in-process queue.
pub struct Memory {
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<mpsc::UnboundedReceiver<Job>>,
    depth: AtomicI64,
    events: broadcast::Sender<serde_json::Value>,
    dead: std::sync::Mutex<Vec<(Job, String)>>,
}

impl Broker {
    /// RabbitMQ at `uri` (`amqp://user:pass@host:5672/%2f`). Connects on
    /// first use, so that a service can start, and take uploads, while the
    /// broker is down.
    pub fn rabbit(uri: &str, names: Names) -> Broker {
        Broker::Rabbit(Arc::new(Rabbit {
            uri: uri.to_string(),
            names,
            link: Mutex::new(None),
        }))
    }

    /// An in-process queue.
    pub fn memory() -> Broker {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        Broker::Memory(Arc::new(Memory {
            tx,
            rx: Mutex::new(rx),
            depth: AtomicI64::new(0),
            events,
            dead: Default::default(),
        }))
    }

    /// Publishes an outbox message, returning once the broker has it.
    pub async fn publish(&self, row: &OutboxRow) -> Result<(), QueueError> {
        match self {
            Broker::Rabbit(r) => {
                let (exchange, key) = match row.kind() {
                    OutboxKind::Job => (String::new(), r.names.jobs.clone()),
                    OutboxKind::Event => (r.names.events.clone(), row.routing_key.clone()),
                };
                let body = serde_json::to_vec(&row.payload.0).expect("JSON values serialise");
                r.publish(&exchange, &key, &body, FieldTable::default())
                    .await
            }
            Broker::Memory(m) => match row.kind() {
                OutboxKind::Job => {
                    let job: Job = serde_json::from_value(row.payload.0.clone())
                        .map_err(|_| QueueError::Closed)?;
                    m.push(job)
                }
                OutboxKind::Event => {
                    // Nobody need listen: a send to no receiver is fine.
                    let _ = m.events.send(row.payload.0.clone());
                    Ok(())
                }
            },
        }
    }

    /// Starts taking jobs, at most `prefetch` unacknowledged at once.
    pub async fn consume(&self, prefetch: u16, tag: &str) -> Result<Consumer, QueueError> {
        match self {
            Broker::Rabbit(r) => {
                let conn = r.connection().await?;
                let ch = conn.create_channel().await?;
                ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
                let consumer = ch
                    .basic_consume(
                        r.names.jobs.as_str().into(),
                        tag.into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
                Ok(Consumer::Rabbit {
                    channel: ch,
                    consumer,
                    tag: tag.to_string(),
                })
            }
            Broker::Memory(m) => Ok(Consumer::Memory(Arc::clone(m))),
        }
    }

    /// Messages waiting in the jobs queue and in its dead-letter queue.
    pub async fn depths(&self) -> Result<Depths, QueueError> {
        match self {
            Broker::Rabbit(r) => {
                let conn = r.connection().await?;
                let ch = conn.create_channel().await?;
                let mut counts = [0; 2];
                for (count, queue) in counts
                    .iter_mut()
                    .zip([r.names.jobs.clone(), r.names.dead()])
                {
                    let q = ch
                        .queue_declare(
                            queue.as_str().into(),
                            QueueDeclareOptions {
                                passive: true,
                                ..Default::default()
                            },
                            FieldTable::default(),
                        )
                        .await?;
                    *count = u64::from(q.message_count());
                }
                let _ = ch.close(200, "done".into()).await;
                Ok(Depths {
                    jobs: counts[0],
                    dead: counts[1],
                })
            }
            Broker::Memory(m) => Ok(Depths {
                jobs: m.depth.load(Ordering::Relaxed).max(0) as u64,
                dead: m.dead.lock().map_or(0, |d| d.len() as u64),
            }),
        }
    }

    /// Whether the broker answers (connects when not connected).
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Broker::Rabbit(r) => r.connection().await.map(|_| ()),
            Broker::Memory(_) => Ok(()),
        }
    }

    /// Subscribes to events (in process only; on RabbitMQ bind a queue to
    /// the events exchange instead).
    pub fn subscribe(&self) -> Option<broadcast::Receiver<serde_json::Value>> {
        match self {
            Broker::Memory(m) => Some(m.events.subscribe()),
            Broker::Rabbit(_) => None,
        }
    }

    /// Jobs dead-lettered in process, with why.
    pub fn dead_letters(&self) -> Vec<(Job, String)> {
        match self {
            Broker::Memory(m) => m.dead.lock().map(|d| d.clone()).unwrap_or_default(),
            Broker::Rabbit(_) => Vec::new(),
        }
    }

    /// Closes the connection, if any.
    pub async fn close(&self) {
        if let Broker::Rabbit(r) = self {
            if let Some((conn, _)) = r.link.lock().await.take() {
                let _ = conn.close(200, "closing".into()).await;
            }
        }
    }
}

impl Memory {
    fn push(&self, job: Job) -> Result<(), QueueError> {
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.tx.send(job).map_err(|_| QueueError::Closed)
    }
}

impl Rabbit {
    /// The open connection, or a new one with the topology declared.
    async fn connection(&self) -> Result<Arc<Connection>, QueueError> {
        Ok(self.link().await?.0)
    }

    async fn link(&self) -> Result<(Arc<Connection>, Channel), QueueError> {
        let mut link = self.link.lock().await;
        if let Some((conn, ch)) = link.as_ref() {
            if conn.status().connected() && ch.status().connected() {
                return Ok((Arc::clone(conn), ch.clone()));
            }
        }
        *link = None;
        let conn = Arc::new(
            Connection::connect(
                &self.uri,
                ConnectionProperties::default().with_connection_name("formflow".into()),
            )
            .await?,
        );
        declare(&conn, &self.names).await?;
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        *link = Some((Arc::clone(&conn), ch.clone()));
        Ok((conn, ch))
    }

    async fn publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        headers: FieldTable,
    ) -> Result<(), QueueError> {
        let (_, ch) = self.link().await?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let sent = async {
            ch.basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?
            .await
        };
        match sent.await {
            Ok(c) if c.is_ack() => Ok(()),
            Ok(_) => Err(QueueError::Nacked),
            Err(e) => {
                // The link is broken: open a new one next time.
                *self.link.lock().await = None;
                Err(e.into())
            }
        }
    }
}

/// Declares the jobs queue (quorum where the broker has them), its dead
/// letter queue and the events exchange. Idempotent.
async fn declare(conn: &Connection, names: &Names) -> Result<(), QueueError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let ch = conn.create_channel().await?;
    ch.queue_declare(names.dead().as_str().into(), durable, FieldTable::default())
        .await?;
    ch.exchange_declare(
        names.events.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(names.dead().as_str().into()),
    );
    let mut quorum = args.clone();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    quorum.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    if let Err(e) = ch
        .queue_declare(names.jobs.as_str().into(), durable, quorum)
        .await
    {
        // A broker without quorum queues (or a classic queue already of
        // this name) closes the channel: fall back to a classic queue.
        tracing::warn!(error = %e, "quorum queue refused; using a classic durable queue");
        let ch = conn.create_channel().await?;
        ch.queue_declare(names.jobs.as_str().into(), durable, args)
            .await?;
        let _ = ch.close(200, "declared".into()).await;
        return Ok(());
    }
    let _ = ch.close(200, "declared".into()).await;
    Ok(())
}

/// Takes jobs as they come.
// One a worker: the size of the RabbitMQ variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Consumer {
    /// From RabbitMQ.
    Rabbit {
        /// The consuming channel.
        channel: Channel,
        /// The stream of deliveries.
        consumer: lapin::Consumer,
        /// The consumer tag, to cancel with.
        tag: String,
    },
    /// From the in-process queue.
    Memory(Arc<Memory>),
}

impl Consumer {
    /// The next job; `None` when the consumer was cancelled or the
    /// connection closed (consume again to go on).
    pub async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        match self {
            Consumer::Rabbit { consumer, .. } => {
                let d = match consumer.next().await? {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e.into())),
                };
                let job = serde_json::from_slice::<Job>(&d.data).ok();
                Some(Ok(Delivery {
                    job,
                    redelivered: d.redelivered,
                    inner: DeliveryInner::Rabbit {
                        acker: d.acker,
                        data: d.data,
                    },
                }))
            }
            Consumer::Memory(m) => {
                let job = m.rx.lock().await.recv().await?;
                m.depth.fetch_sub(1, Ordering::Relaxed);
                Some(Ok(Delivery {
                    job: Some(job),
                    redelivered: false,
                    inner: DeliveryInner::Memory(Arc::clone(m)),
                }))
            }
        }
    }

    /// Stops taking jobs; those already delivered are still to be acked.
    pub async fn cancel(&self) {
        if let Consumer::Rabbit { channel, tag, .. } = self {
            let _ = channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await;
        }
    }

    /// Closes the channel, once every delivery taken from it is acked: a
    /// channel left open when the connection closes is reported by lapin
    /// as an error.
    pub async fn close(self) {
        if let Consumer::Rabbit { channel, .. } = self {
            let _ = channel.close(200, "stopping".into()).await;
        }
    }
}

/// One job as delivered, to be acked, requeued or dead-lettered.
pub struct Delivery {
    /// The job, or none when the message is not a job (dead-letter it).
    pub job: Option<Job>,
    /// Whether the broker delivered it before (a worker died holding it).
    pub redelivered: bool,
    inner: DeliveryInner,
}

enum DeliveryInner {
    Rabbit { acker: lapin::Acker, data: Vec<u8> },
    Memory(Arc<Memory>),
}

impl Delivery {
    /// Done with it: the outcome is committed.
    pub async fn ack(self) -> Result<(), QueueError> {
        match self.inner {
            DeliveryInner::Rabbit { acker, .. } => {
                acker.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            DeliveryInner::Memory(_) => Ok(()),
        }
    }

    /// Gives it back to be taken again (this worker is stopping).
    pub async fn requeue(self) -> Result<(), QueueError> {
        match self.inner {
            DeliveryInner::Rabbit { acker, .. } => {
                acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                Ok(())
            }
            DeliveryInner::Memory(m) => match self.job {
                Some(j) => m.push(j),
                None => Ok(()),
            },
        }
    }

    /// Puts it back at the end of the queue as a new message, then lets
    /// this one go: for a job whose failures may pass (the database down
    /// longer than the worker's retries). A new message starts with no
    /// deliveries, so the broker's delivery limit, meant for files that
    /// kill workers, never dead-letters a job for an outage.
    pub async fn retry_later(self, broker: &Broker) -> Result<(), QueueError> {
        match self.inner {
            DeliveryInner::Rabbit { acker, data } => {
                let Broker::Rabbit(r) = broker else {
                    return Err(QueueError::Closed);
                };
                r.publish("", &r.names.jobs, &data, FieldTable::default())
                    .await?;
                acker.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            DeliveryInner::Memory(m) => match self.job {
                Some(j) => m.push(j),
                None => Ok(()),
            },
        }
    }

    /// Gives up on it: it goes to the dead-letter queue with `reason`.
    pub async fn dead_letter(self, broker: &Broker, reason: &str) -> Result<(), QueueError> {
        match self.inner {
            DeliveryInner::Rabbit { acker, data } => {
                let Broker::Rabbit(r) = broker else {
                    return Err(QueueError::Closed);
                };
                let mut headers = FieldTable::default();
                headers.insert(
                    "x-formflow-reason".into(),
                    AMQPValue::LongString(reason.into()),
                );
                r.publish("", &r.names.dead(), &data, headers).await?;
                acker.ack(BasicAckOptions::default()).await?;
                Ok(())
            }
            DeliveryInner::Memory(m) => {
                if let (Some(job), Ok(mut dead)) = (self.job, m.dead.lock()) {
                    dead.push((job, reason.to_string()));
                }
                Ok(())
            }
        }
    }
}
