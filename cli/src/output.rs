//! Rendering results as text, JSON and CSV. The JSON and CSV shapes are a stable interface;
//! their objects and rows come from `mgr_core::library::record`, the same code that writes
//! the `--jsonl` / `--csv-file` result files.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use mgr_core::aggregate::{share, SongScores};
use mgr_core::library::record::{csv_header, Record};
use serde_json::{json, Value};

/// One song as printed: its path, its scores or error, and what happened to its tags.
#[derive(Debug)]
pub struct Row {
    pub path: PathBuf,
    pub result: std::result::Result<SongScores, String>,
    pub tags: Option<String>,
}

impl Row {
    fn record<'a>(&'a self, labels: &'a [String], per_frame: bool) -> Record<'a> {
        Record {
            path: &self.path,
            result: self.result.as_ref().map_err(String::as_str),
            labels,
            per_frame,
            tags: self.tags.as_deref(),
        }
    }
}

fn ranked(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

pub fn tags(rows: &[Row], labels: &[String], top: usize, json: bool) -> Result<String> {
    let mut s = String::new();
    if json {
        let arr: Vec<Value> = rows
            .iter()
            .map(|r| {
                let path = r.path.display().to_string();
                match &r.result {
                    Ok(song) => {
                        let tags: Vec<Value> = ranked(&song.mean)
                            .into_iter()
                            .take(top)
                            .map(|i| {
                                json!([labels[i], mgr_core::library::record::round4(song.mean[i])])
                            })
                            .collect();
                        json!({"path": path, "tags": tags})
                    }
                    Err(e) => json!({"path": path, "error": e}),
                }
            })
            .collect();
        writeln!(s, "{}", serde_json::to_string_pretty(&arr)?)?;
        return Ok(s);
    }
    for r in rows {
        match &r.result {
            Ok(song) => {
                writeln!(s, "{}", r.path.display())?;
                for i in ranked(&song.mean).into_iter().take(top) {
                    writeln!(s, "  {:<20} {:.4}", labels[i], song.mean[i])?;
                }
            }
            Err(e) => writeln!(s, "{}\n  error: {e}", r.path.display())?,
        }
    }
    Ok(s)
}

pub fn classify_json(rows: &[Row], labels: &[String], per_frame: bool) -> Result<String> {
    let arr: Vec<Value> = rows
        .iter()
        .map(|r| r.record(labels, per_frame).json())
        .collect();
    Ok(format!("{}\n", serde_json::to_string_pretty(&arr)?))
}

pub fn classify_csv(rows: &[Row], labels: &[String], per_frame: bool) -> String {
    let mut s = csv_header(labels, &[]);
    for r in rows {
        s.push_str(&r.record(labels, per_frame).csv_rows(""));
    }
    s
}

pub fn classify_text(rows: &[Row], labels: &[String], per_frame: bool) -> String {
    let mut s = String::new();
    let width = rows
        .iter()
        .map(|r| r.path.display().to_string().chars().count())
        .max()
        .unwrap_or(0);
    for r in rows {
        let path = r.path.display().to_string();
        match &r.result {
            Ok(song) => {
                let order = ranked(&song.mean);
                let top = order[0];
                let top_share = share(&song.mean, top);
                let runners: Vec<String> = order[1..3.min(order.len())]
                    .iter()
                    .map(|&i| format!("{} {:.3}", labels[i], song.mean[i]))
                    .collect();
                let _ = writeln!(
                    s,
                    "{path:<width$}  {:<10} {:.3} ({:>3.0} %)  [{}]  {} frame{}",
                    labels[top],
                    song.mean[top],
                    top_share * 100.0,
                    runners.join(", "),
                    song.frames.len(),
                    if song.frames.len() == 1 { "" } else { "s" },
                );
                if per_frame {
                    let _ = writeln!(s, "  majority vote: {}", labels[song.by_vote()]);
                    for (i, f) in song.frames.iter().enumerate() {
                        let t = mgr_core::model::argmax(f).unwrap_or(0);
                        let _ = writeln!(s, "  frame {i:>3}: {:<10} {:.3}", labels[t], f[t]);
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(s, "{path:<width$}  error: {e}");
            }
        }
        if let Some(t) = &r.tags {
            let _ = writeln!(s, "  tags: {t}");
        }
    }
    s
}
