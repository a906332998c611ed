//! Prometheus metrics, served at `/metrics`: connections, messages, commit batch
//! sizes and latency, and errors by kind. One [`Metrics`] is made at start-up and
//! passed to whoever counts (no global registry).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtoLabel {
    pub protocol: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub connections: Gauge,
    pub connections_total: Counter,
    pub coap_sessions: Gauge,
    pub messages: Family<ProtoLabel, Counter>,
    pub readings: Counter,
    pub errors: Family<KindLabel, Counter>,
    pub commit_batch: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("steward");
        let connections = Gauge::default();
        let connections_total = Counter::default();
        let coap_sessions = Gauge::default();
        let messages = Family::<ProtoLabel, Counter>::default();
        let readings = Counter::default();
        let errors = Family::<KindLabel, Counter>::default();
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "mqtt_connections",
            "Open device connections",
            connections.clone(),
        );
        registry.register(
            "mqtt_connections_accepted",
            "Device connections accepted since start",
            connections_total.clone(),
        );
        registry.register(
            "coap_sessions",
            "Open CoAP DTLS sessions",
            coap_sessions.clone(),
        );
        registry.register(
            "messages",
            "Telemetry messages received, by protocol",
            messages.clone(),
        );
        registry.register(
            "readings_committed",
            "Readings durably committed",
            readings.clone(),
        );
        registry.register("errors", "Errors by kind", errors.clone());
        registry.register(
            "commit_batch_readings",
            "Readings per group-commit transaction",
            commit_batch.clone(),
        );
        registry.register(
            "commit_duration_seconds",
            "Time to write and sync one group-commit transaction",
            commit_seconds.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            connections,
            connections_total,
            coap_sessions,
            messages,
            readings,
            errors,
            commit_batch,
            commit_seconds,
        }
    }

    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    pub fn message(&self, protocol: &str) {
        self.messages
            .get_or_create(&ProtoLabel {
                protocol: protocol.into(),
            })
            .inc();
    }

    pub fn observe_commit(&self, readings: usize, took: Duration) {
        self.readings.inc_by(readings as u64);
        self.commit_batch.observe(readings as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
