//! Where connection notifications leave the emulator. SNS is not emulated:
//! each message the model made for a topic ([`Notice`]) is kept here as
//! SNS would deliver it to an HTTP subscriber (its JSON envelope, the
//! message inside as a string), listed at `GET /_emulator/notifications`,
//! and POSTed to the URL the configuration routes its topic to
//! (`--notification-url ARN=URL`).
//!
//! The engine hands messages over while it publishes a change; handing over
//! never waits (a bounded queue, full means the message is kept but not
//! delivered), and delivery runs on tasks of its own, so a slow or dead
//! subscriber never holds up a write.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Uri;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::model::tags::glob_match;
use crate::model::{ids, Notice};

/// Messages kept for the admin endpoint; older ones are forgotten.
const KEPT: usize = 10_000;
/// Deliveries waiting at once; more are kept but not delivered.
const QUEUED: usize = 4096;
/// Attempts per delivery (SNS retries a failing HTTP subscriber too).
const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

/// A topic (an ARN, `*` wildcards allowed) routed to an HTTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub topic: String,
    pub url: String,
}

impl std::str::FromStr for Route {
    type Err = String;

    /// `ARN=URL`, where the URL is `http://host[:port][/path]`.
    fn from_str(s: &str) -> Result<Route, String> {
        // Topic ARNs hold no '=': the first one ends the topic.
        let (topic, url) = s
            .split_once('=')
            .ok_or_else(|| format!("notification route {s:?}: expected TOPIC_ARN=http://host:port/path"))?;
        Route::new(topic, url)
    }
}

impl Route {
    pub fn new(topic: &str, url: &str) -> Result<Route, String> {
        if topic.is_empty() {
            return Err(format!("notification route to {url}: the topic ARN is empty"));
        }
        let uri: Uri = url.parse().map_err(|e| format!("notification URL {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!("notification URL {url:?}: only http://host[:port][/path] URLs are delivered to"));
        }
        Ok(Route { topic: topic.to_string(), url: url.to_string() })
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.topic, self.url)
    }
}

/// One message as published, and what became of its delivery.
#[derive(Debug, Clone)]
struct Published {
    seq: u64,
    envelope: Value,
    message: Value,
    url: Option<String>,
    delivery: Delivery,
}

#[derive(Debug, Clone)]
enum Delivery {
    /// No route for its topic: kept only.
    None,
    Pending,
    Delivered {
        status: u16,
        attempts: u32,
    },
    Failed {
        error: String,
        attempts: u32,
    },
}

struct Job {
    seq: u64,
    url: String,
    topic: String,
    message_id: String,
    body: String,
}

/// The messages published so far and the queue of their deliveries.
pub struct Outbox {
    log: Mutex<VecDeque<Published>>,
    seq: AtomicU64,
    routes: Mutex<Vec<Route>>,
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
}

impl Default for Outbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUED);
        Outbox {
            log: Mutex::new(VecDeque::new()),
            seq: AtomicU64::new(0),
            routes: Mutex::new(Vec::new()),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Outbox {
    /// Where each topic's messages are POSTed (the first matching route).
    pub fn set_routes(&self, routes: Vec<Route>) {
        *self.routes.lock().unwrap_or_else(|e| e.into_inner()) = routes;
    }

    fn route(&self, topic: &str) -> Option<String> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.iter().find(|r| glob_match(&r.topic, topic)).map(|r| r.url.clone())
    }

    /// Keeps a message and queues its delivery; never waits.
    pub fn publish(&self, notice: Notice, now_ms: u64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let message_id = ids::request_id();
        let text = notice.message.to_string();
        let envelope = json!({
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": notice.topic_arn,
            "Message": text,
            "Timestamp": crate::api::xml::timestamp(now_ms),
        });
        let url = self.route(&notice.topic_arn);
        let mut delivery = Delivery::None;
        if let Some(url) = &url {
            let job = Job {
                seq,
                url: url.clone(),
                topic: notice.topic_arn.clone(),
                message_id: message_id.clone(),
                body: envelope.to_string(),
            };
            delivery = match self.tx.try_send(job) {
                Ok(()) => Delivery::Pending,
                Err(_) => {
                    tracing::warn!(topic = %notice.topic_arn, "notification deliveries are backed up; this one is kept but not delivered");
                    Delivery::Failed { error: "the delivery queue was full".into(), attempts: 0 }
                }
            };
        }
        tracing::info!(topic = %notice.topic_arn, event = %notice.message["eventType"], endpoint = %notice.message["vpcEndpointId"], url = ?url, "connection notification");
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= KEPT {
            log.pop_front();
        }
        log.push_back(Published { seq, envelope, message: notice.message, url, delivery });
    }

    fn settle(&self, seq: u64, delivery: Delivery) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = log.iter_mut().find(|p| p.seq == seq) {
            p.delivery = delivery;
        }
    }

    /// The messages kept, oldest first; only those of `topic` when given.
    pub fn list(&self, topic: Option<&str>) -> Value {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let items: Vec<Value> = log
            .iter()
            .filter(|p| topic.is_none_or(|t| p.envelope["TopicArn"] == t))
            .map(|p| {
                let delivery = match &p.delivery {
                    Delivery::None => Value::Null,
                    Delivery::Pending => json!({"url": p.url, "state": "pending"}),
                    Delivery::Delivered { status, attempts } => {
                        json!({"url": p.url, "state": "delivered", "http_status": status, "attempts": attempts})
                    }
                    Delivery::Failed { error, attempts } => {
                        json!({"url": p.url, "state": "failed", "error": error, "attempts": attempts})
                    }
                };
                json!({
                    "topic_arn": p.envelope["TopicArn"], "message_id": p.envelope["MessageId"],
                    "timestamp": p.envelope["Timestamp"], "message": p.message, "sns": p.envelope,
                    "delivery": delivery,
                })
            })
            .collect();
        json!({ "notifications": items })
    }

    /// Forgets the messages kept (deliveries under way go on).
    pub fn clear(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Runs the deliveries until the queue's sender goes; the first call
    /// gets the queue, later ones return at once.
    pub async fn deliver(self: Arc<Self>) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let slots = Arc::new(tokio::sync::Semaphore::new(64));
        while let Some(job) = rx.recv().await {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let outbox = self.clone();
            tokio::spawn(async move {
                let outcome = deliver_one(&job).await;
                outbox.settle(job.seq, outcome);
                drop(permit);
            });
        }
    }
}

async fn deliver_one(job: &Job) -> Delivery {
    let mut error = String::new();
    for attempt in 1..=ATTEMPTS {
        match post(job).await {
            Ok(status) if (200..300).contains(&status) => {
                return Delivery::Delivered { status, attempts: attempt };
            }
            Ok(status) => error = format!("the subscriber answered HTTP {status}"),
            Err(e) => error = e,
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
    }
    tracing::warn!(url = %job.url, topic = %job.topic, %error, "cannot deliver a connection notification");
    Delivery::Failed { error, attempts: ATTEMPTS }
}

/// POSTs one message as SNS does to an HTTP subscriber.
async fn post(job: &Job) -> Result<u16, String> {
    let uri: Uri = job.url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host.as_str()).to_string();
    let req = hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("x-amz-sns-message-type", "Notification")
        .header("x-amz-sns-message-id", &job.message_id)
        .header("x-amz-sns-topic-arn", &job.topic)
        .header("user-agent", "Amazon Simple Notification Service Agent")
        .body(Full::new(Bytes::from(job.body.clone())))
        .map_err(|e| format!("{e}"))?;
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| "the subscriber did not answer in time".to_string())?
        .map_err(|e| format!("{e}"))?;
    Ok(resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_match() {
        let r: Route = "arn:aws:sns:us-east-1:111111111111:events=http://127.0.0.1:9000/hook".parse().unwrap();
        assert_eq!(r.topic, "arn:aws:sns:us-east-1:111111111111:events");
        assert_eq!(r.url, "http://127.0.0.1:9000/hook");
        assert!("arn:x=https://example.com/".parse::<Route>().is_err());
        assert!("no-url".parse::<Route>().is_err());
        let outbox = Outbox::default();
        outbox.set_routes(vec![Route::new("arn:aws:sns:*:111111111111:*", "http://127.0.0.1:1/").unwrap()]);
        assert_eq!(outbox.route("arn:aws:sns:eu-west-1:111111111111:t").as_deref(), Some("http://127.0.0.1:1/"));
        assert_eq!(outbox.route("arn:aws:sns:eu-west-1:222222222222:t"), None);
    }

    #[test]
    fn routes_come_from_the_command_line_then_the_config_file() {
        let dir = std::env::temp_dir().join(format!("notify-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("emulator.toml");
        std::fs::write(&file, "[notification_urls]\n\"arn:aws:sns:*:*:*\" = \"http://127.0.0.1:9/all\"\n").unwrap();
        let args = crate::config::Args {
            config: Some(file),
            notification_url: vec!["arn:aws:sns:us-east-1:111111111111:t=http://127.0.0.1:9/t?a=b".into()],
            ..Default::default()
        };
        let c = crate::Config::load(&args).unwrap();
        let routes: Vec<String> = c.notification_routes.iter().map(ToString::to_string).collect();
        assert_eq!(
            routes,
            [
                "arn:aws:sns:us-east-1:111111111111:t=http://127.0.0.1:9/t?a=b",
                "arn:aws:sns:*:*:*=http://127.0.0.1:9/all"
            ]
        );
        std::fs::write(dir.join("bad.toml"), "[notification_urls]\n\"arn:aws:sns:*:*:*\" = \"ftp://x/\"\n").unwrap();
        let bad = crate::config::Args { config: Some(dir.join("bad.toml")), ..Default::default() };
        assert!(crate::Config::load(&bad).unwrap_err().contains("only http://"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn published_messages_are_listed_in_sns_form() {
        let outbox = Outbox::default();
        let message = json!({"eventType": "Connect", "vpcEndpointId": "vpce-0123456789abcdef0"});
        outbox
            .publish(Notice { topic_arn: "arn:aws:sns:us-east-1:111111111111:t".into(), message: message.clone() }, 0);
        let listed = outbox.list(None);
        let item = &listed["notifications"][0];
        assert_eq!(item["message"], message);
        assert_eq!(item["sns"]["Type"], "Notification");
        assert_eq!(item["sns"]["Timestamp"], "1970-01-01T00:00:00.000Z");
        let inner: Value = serde_json::from_str(item["sns"]["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner, message);
        assert_eq!(item["delivery"], Value::Null);
        assert_eq!(outbox.list(Some("arn:aws:sns:us-east-1:111111111111:other"))["notifications"], json!([]));
    }
}
