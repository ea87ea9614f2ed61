//! Prometheus metrics for the whole daemon (SMTP and HTTP record into the same counters):
//! files by kind and outcome, findings by type, mail messages by outcome, processing time,
//! and work in flight. Rendered in the text exposition format at `/metrics`.
//!
//! May use: `report`, leaves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::report::Report;

/// Upper bounds of the duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    files: Mutex<BTreeMap<(String, &'static str), u64>>,
    findings: Mutex<BTreeMap<String, u64>>,
    messages: Mutex<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    in_flight: AtomicI64,
    spooled: AtomicU64,
}

/// Counts one unit of work in flight while it lives.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
}

impl Metrics {
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// One request body that did not fit `http.body_memory_bytes` and waited on disk.
    pub fn spooled(&self) {
        self.spooled.fetch_add(1, Ordering::Relaxed);
    }

    /// One file through the engine (an API upload or a mail attachment).
    pub fn file(&self, report: &Report, took: Duration) {
        bump(
            &self.files,
            (report.detected_kind.as_str().to_string(), report.outcome.as_str()),
        );
        for f in &report.findings {
            let what = serde_json::to_value(f.what)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "other".into());
            bump(&self.findings, what);
        }
        self.observe(took);
    }

    /// One mail message through the SMTP gateway.
    pub fn message(&self, outcome: &'static str, took: Duration) {
        bump(&self.messages, outcome);
        self.observe(took);
    }

    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        out.push_str("# HELP mugai_files_total Files through the engine, by detected kind and outcome.\n");
        out.push_str("# TYPE mugai_files_total counter\n");
        for ((kind, outcome), n) in self.files.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "mugai_files_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP mugai_findings_total Active content found, by type.\n");
        out.push_str("# TYPE mugai_findings_total counter\n");
        for (what, n) in self.findings.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "mugai_findings_total{{type=\"{what}\"}} {n}");
        }
        out.push_str("# HELP mugai_messages_total Mail messages through the SMTP gateway, by outcome.\n");
        out.push_str("# TYPE mugai_messages_total counter\n");
        for (outcome, n) in self.messages.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "mugai_messages_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP mugai_processing_seconds Time to process one file or message.\n");
        out.push_str("# TYPE mugai_processing_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "mugai_processing_seconds_bucket{{le=\"{bound}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "mugai_processing_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "mugai_processing_seconds_sum {sum}");
        let _ = writeln!(out, "mugai_processing_seconds_count {count}");
        out.push_str("# HELP mugai_in_flight Files and messages being processed now.\n");
        out.push_str("# TYPE mugai_in_flight gauge\n");
        let _ = writeln!(out, "mugai_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        out.push_str("# HELP mugai_http_spooled_bodies_total Request bodies that waited on disk (http.body_memory_bytes was taken).\n");
        out.push_str("# TYPE mugai_http_spooled_bodies_total counter\n");
        let _ = writeln!(
            out,
            "mugai_http_spooled_bodies_total {}",
            self.spooled.load(Ordering::Relaxed)
        );
        out
    }
}
