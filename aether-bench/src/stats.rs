//! Latency samples, percentiles, result rows and the table.

use std::fmt::Write as _;
use std::time::Duration;

/// Per-operation latencies in nanoseconds, plus the count and wall time of a run.
#[derive(Debug, Default, Clone)]
pub struct Measured {
    /// Operations completed.
    pub ops: u64,
    /// Wall time of the measured window, seconds.
    pub secs: f64,
    /// One latency per operation (ns), unsorted until [`Measured::finish`].
    pub lat: Vec<u64>,
}

impl Measured {
    pub fn finish(mut self) -> Self {
        self.lat.sort_unstable();
        self
    }

    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Percentile `q` in [0, 1] of the (sorted) latencies.
    pub fn pct(&self, q: f64) -> Option<Duration> {
        if self.lat.is_empty() {
            return None;
        }
        let idx = ((self.lat.len() as f64 - 1.0) * q).round() as usize;
        Some(Duration::from_nanos(self.lat[idx.min(self.lat.len() - 1)]))
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: String,
    pub system: String,
    /// The row's figure, in `unit`.
    pub value: f64,
    pub unit: &'static str,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// `value / reference value`, and what the reference is.
    pub ratio: Option<(f64, String)>,
    pub note: String,
}

impl Row {
    pub fn new(workload: impl Into<String>, system: impl Into<String>, m: &Measured) -> Row {
        Row {
            workload: workload.into(),
            system: system.into(),
            value: m.rate(),
            unit: "ops/s",
            p50: m.pct(0.50),
            p99: m.pct(0.99),
            ratio: None,
            note: String::new(),
        }
    }

    pub fn value(
        workload: impl Into<String>,
        system: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Row {
        Row {
            workload: workload.into(),
            system: system.into(),
            value,
            unit,
            p50: None,
            p99: None,
            ratio: None,
            note: String::new(),
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    pub fn lat(mut self, p50: Option<Duration>, p99: Option<Duration>) -> Row {
        self.p50 = p50;
        self.p99 = p99;
        self
    }

    /// Sets the ratio of this row to `reference` (named `name`).
    pub fn vs(mut self, reference: f64, name: &str) -> Row {
        if reference > 0.0 {
            self.ratio = Some((self.value / reference, name.to_owned()));
        }
        self
    }
}

/// Sets each row's ratio to the row of `rows` whose system is `reference`.
pub fn ratios_to(rows: &mut [Row], reference: &str) {
    let Some(base) = rows.iter().find(|r| r.system == reference).map(|r| r.value) else {
        return;
    };
    for row in rows.iter_mut() {
        if row.system == reference {
            row.ratio = Some((1.0, "ref".to_owned()));
        } else if base > 0.0 {
            row.ratio = Some((row.value / base, reference.to_owned()));
        }
    }
}

pub fn fmt_dur(d: Option<Duration>) -> String {
    let Some(d) = d else { return "–".to_owned() };
    let ns = d.as_nanos() as f64;
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

pub fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_row(r: &Row) -> String {
    let ratio = match &r.ratio {
        None => "–".to_owned(),
        Some((_, name)) if name == "ref" => "1.00 (ref)".to_owned(),
        Some((x, name)) => format!("{x:.2}× {name}"),
    };
    format!(
        "| {} | {} | {} {} | {} | {} | {} | {} |",
        r.workload,
        r.system,
        fmt_num(r.value),
        r.unit,
        fmt_dur(r.p50),
        fmt_dur(r.p99),
        ratio,
        r.note
    )
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| workload | system | rate | p50 | p99 | ratio | note |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---|\n");
    for r in rows {
        let _ = writeln!(out, "{}", fmt_row(r));
    }
    out
}
