//! Rendering results as text, JSON and CSV. The JSON and CSV shapes are a stable interface;
//! their objects and rows come from `mgr_core::library::record`, the same code that writes
//! the `--jsonl` / `--csv-file` result files.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use mgr_core::aggregate::{share, SongScores};
use mgr_core::library::record::{csv_header, round4, timeline_json, Record};
use mgr_core::timeline::{self, TimelineSettings};
use serde_json::{json, Value};

/// One song as printed: its path, its scores or error, and what happened to its tags.
#[derive(Debug)]
pub struct Row {
    pub path: PathBuf,
    pub result: std::result::Result<SongScores, String>,
    pub tags: Option<String>,
}

/// What `classify` prints beside each song's decision.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Every frame's scores and the majority vote (`--per-frame`).
    pub per_frame: bool,
    /// The genre timeline (`--timeline`).
    pub timeline: Option<TimelineSettings>,
}

impl Row {
    fn record<'a>(&'a self, labels: &'a [String], shape: Shape) -> Record<'a> {
        Record {
            path: &self.path,
            result: self.result.as_ref().map_err(String::as_str),
            labels,
            per_frame: shape.per_frame,
            tags: self.tags.as_deref(),
            timeline: shape.timeline,
        }
    }
}

fn ranked(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// The `top` highest of `scores` as `[[label, score], ...]`.
fn top_tags(scores: &[f32], labels: &[String], top: usize) -> Value {
    ranked(scores)
        .into_iter()
        .take(top)
        .map(|i| json!([labels[i], round4(scores[i])]))
        .collect()
}

/// `tag`'s output. With a timeline, each window's and segment's label is its top tag and
/// `"tags"` its `top` highest (the JSON of `classify` gives every score; 50 per window is more
/// than a reader wants).
pub fn tags(
    rows: &[Row],
    labels: &[String],
    top: usize,
    json: bool,
    timeline: Option<TimelineSettings>,
) -> Result<String> {
    let mut s = String::new();
    if json {
        let arr: Vec<Value> = rows
            .iter()
            .map(|r| {
                let path = r.path.display().to_string();
                match &r.result {
                    Ok(song) => {
                        let mut v =
                            json!({"path": path, "tags": top_tags(&song.mean, labels, top)});
                        if let Some(t) = &timeline {
                            let (windows, segments) =
                                timeline_json(song, labels, &t.segments, "tags", |s| {
                                    top_tags(s, labels, top)
                                });
                            v["timeline"] = windows;
                            v["segments"] = segments;
                        }
                        v
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
                if let Some(t) = &timeline {
                    s.push_str(&segment_lines(song, labels, t));
                }
            }
            Err(e) => writeln!(s, "{}\n  error: {e}", r.path.display())?,
        }
    }
    Ok(s)
}

pub fn classify_json(rows: &[Row], labels: &[String], shape: Shape) -> Result<String> {
    let arr: Vec<Value> = rows
        .iter()
        .map(|r| r.record(labels, shape).json())
        .collect();
    Ok(format!("{}\n", serde_json::to_string_pretty(&arr)?))
}

pub fn classify_csv(rows: &[Row], labels: &[String], shape: Shape) -> String {
    let mut s = csv_header(labels, shape.timeline.is_some(), &[]);
    for r in rows {
        s.push_str(&r.record(labels, shape).csv_rows(""));
    }
    s
}

/// Seconds as `hh:mm:ss` (rounded to the second).
pub fn hhmmss(t: f64) -> String {
    let t = t.max(0.0).round() as u64;
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// One line per segment: `  00:00:00–00:04:52  jazz        (0.71)`, the label's mean score
/// over the segment's windows in brackets.
fn segment_lines(song: &SongScores, labels: &[String], t: &TimelineSettings) -> String {
    let segments = timeline::segments(&song.timeline, &t.segments);
    let width = segments
        .iter()
        .map(|g| labels[g.label].chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for g in &segments {
        let _ = writeln!(
            s,
            "  {}–{}  {:<width$}  ({:.2})",
            hhmmss(g.start),
            hhmmss(g.end),
            labels[g.label],
            g.scores[g.label],
        );
    }
    s
}

pub fn classify_text(rows: &[Row], labels: &[String], shape: Shape) -> String {
    let per_frame = shape.per_frame;
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
                if let Some(t) = &shape.timeline {
                    s.push_str(&segment_lines(song, labels, t));
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
