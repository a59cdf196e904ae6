//! Human output: left-aligned columns under a header, and times.

use std::io::Write;

use aether::Timestamp;

/// Prints `rows` under `header` in columns as wide as their widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<&str>| -> String {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    out.flush()
}

/// A timestamp as people read it: `2025-01-31 12:00:00.123Z`.
pub(crate) fn time(at: &Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string()
}

/// A JSON line on stdout.
pub(crate) fn json_line(value: &impl serde::Serialize) -> Result<(), crate::error::CliError> {
    let text = serde_json::to_string(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}
