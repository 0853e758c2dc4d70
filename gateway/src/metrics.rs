//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format
//! (`prometheus-client`): one [`Metrics`] per [`Gateway`](crate::Gateway), no global
//! registry.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `as2_transfers_total` | counter | `partner`, `direction`, `status` | transfers ended (inbound: each message received) |
//! | `as2_transfer_bytes_total` | counter | `partner`, `direction` | payload bytes of the transfers ended |
//! | `as2_transfer_duration_seconds` | histogram | `direction` | first attempt to end (outbound), request to stored (inbound) |
//! | `as2_retries_total` | counter | `kind` | resends scheduled (`send`), asynchronous MDN deliveries tried again (`async_mdn`) |
//! | `as2_queued_jobs` | gauge | `kind` | jobs in the queue, read from the database at scrape time |
//! | `as2_async_mdns_pending` | gauge | | our messages awaiting their asynchronous MDN, read at scrape time |
//!
//! An inbound message that matches no agreement is counted under `partner="(unmatched)"`:
//! its AS2-From is the sender's to choose, and a label per value would let anyone grow
//! the registry.

use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::db::{Database, DbError, kind};

/// The `partner` label of a message that matched no agreement.
pub const UNMATCHED_PARTNER: &str = "(unmatched)";

/// The Content-Type of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a transfer that ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransferLabels {
    partner: String,
    direction: String,
    status: String,
}

/// Labels of the bytes moved.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    partner: String,
    direction: String,
}

/// A `direction` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: String,
}

/// A `kind` label (of a retry or a job).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// Upper bounds of the duration buckets, in seconds: a synchronous exchange takes well
/// under a second, a transfer resent over a day's retries up to a day.
const DURATION_BUCKETS: [f64; 15] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The gateway's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    transfers: Family<TransferLabels, Counter>,
    bytes: Family<BytesLabels, Counter>,
    durations: Family<DirectionLabel, Histogram, fn() -> Histogram>,
    retries: Family<KindLabel, Counter>,
    queued_jobs: Family<KindLabel, Gauge>,
    async_mdns_pending: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric (at zero).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let transfers = Family::<TransferLabels, Counter>::default();
        registry.register(
            "as2_transfers",
            "Transfers ended, by partner, direction and status",
            transfers.clone(),
        );
        let bytes = Family::<BytesLabels, Counter>::default();
        registry.register_with_unit(
            "as2_transfer",
            "Payload bytes of the transfers ended, by partner and direction",
            Unit::Bytes,
            bytes.clone(),
        );
        let durations: Family<DirectionLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "as2_transfer_duration",
            "Transfer durations: first attempt to end (outbound), request to stored (inbound)",
            Unit::Seconds,
            durations.clone(),
        );
        let retries = Family::<KindLabel, Counter>::default();
        registry.register(
            "as2_retries",
            "Resends scheduled (send) and asynchronous MDN deliveries tried again (async_mdn)",
            retries.clone(),
        );
        let queued_jobs = Family::<KindLabel, Gauge>::default();
        registry.register(
            "as2_queued_jobs",
            "Jobs in the queue by kind (read from the database at scrape time)",
            queued_jobs.clone(),
        );
        let async_mdns_pending = Gauge::default();
        registry.register(
            "as2_async_mdns_pending",
            "Messages sent awaiting their asynchronous MDN (read at scrape time)",
            async_mdns_pending.clone(),
        );
        Metrics {
            registry,
            transfers,
            bytes,
            durations,
            retries,
            queued_jobs,
            async_mdns_pending,
        }
    }

    /// Counts a transfer that ended: `status` and `bytes` of payload, `started` its
    /// first attempt (outbound) or the request's arrival (inbound).
    pub fn transfer_ended(
        &self,
        partner: &str,
        direction: &str,
        status: &str,
        bytes: u64,
        started: SystemTime,
    ) {
        self.transfers
            .get_or_create(&TransferLabels {
                partner: partner.to_owned(),
                direction: direction.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.bytes
            .get_or_create(&BytesLabels {
                partner: partner.to_owned(),
                direction: direction.to_owned(),
            })
            .inc_by(bytes);
        let took = SystemTime::now()
            .duration_since(started)
            .unwrap_or(Duration::ZERO);
        self.durations
            .get_or_create(&DirectionLabel {
                direction: direction.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a retry of `kind` ([`kind::SEND`] or [`kind::ASYNC_MDN`]).
    pub fn retried(&self, kind: &str) {
        self.retries
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The metrics as OpenMetrics text, the gauges read from `db` first.
    pub async fn scrape(&self, db: Option<&Database>) -> Result<String, DbError> {
        if let Some(db) = db {
            let jobs = db.jobs_by_kind().await?;
            for k in [kind::SEND, kind::ASYNC_MDN, kind::MDN_TIMEOUT] {
                if !jobs.iter().any(|(queued, _)| queued == k) {
                    self.queued_jobs
                        .get_or_create(&KindLabel { kind: k.to_owned() })
                        .set(0);
                }
            }
            for (k, n) in jobs {
                self.queued_jobs
                    .get_or_create(&KindLabel { kind: k })
                    .set(n);
            }
            self.async_mdns_pending.set(db.pending_mdn_count().await?);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| DbError::Io(std::io::Error::other(e.to_string())))?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_and_histograms_are_encoded_with_their_labels() {
        let metrics = Metrics::new();
        let start = SystemTime::now();
        metrics.transfer_ended("PartnerA", "inbound", "COMPLETED", 100, start);
        metrics.transfer_ended("PartnerA", "inbound", "COMPLETED", 23, start);
        metrics.retried(kind::SEND);
        let text = metrics.scrape(None).await.unwrap();
        let has = |line: &str| text.lines().any(|l| l == line);
        assert!(
            has(
                r#"as2_transfers_total{partner="PartnerA",direction="inbound",status="COMPLETED"} 2"#
            ),
            "{text}"
        );
        assert!(
            has(r#"as2_transfer_bytes_total{partner="PartnerA",direction="inbound"} 123"#),
            "{text}"
        );
        assert!(
            has(r#"as2_transfer_duration_seconds_count{direction="inbound"} 2"#),
            "{text}"
        );
        assert!(has(r#"as2_retries_total{kind="send"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
