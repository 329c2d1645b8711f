//! Rendering results as text, JSON and CSV. The JSON and CSV shapes are a stable interface.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use mgr_core::aggregate::SongScores;
use serde_json::{json, Map, Value};

type Results = [(PathBuf, std::result::Result<SongScores, String>)];

/// Round to 4 decimals for output (scores are f32; more digits are noise).
fn r4(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

fn ranked(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

pub fn tags(results: &Results, labels: &[String], top: usize, json: bool) -> Result<String> {
    let mut s = String::new();
    if json {
        let arr: Vec<Value> = results
            .iter()
            .map(|(p, r)| match r {
                Ok(song) => {
                    let tags: Vec<Value> = ranked(&song.mean)
                        .into_iter()
                        .take(top)
                        .map(|i| json!([labels[i], r4(song.mean[i])]))
                        .collect();
                    json!({"path": p.display().to_string(), "tags": tags})
                }
                Err(e) => json!({"path": p.display().to_string(), "error": e}),
            })
            .collect();
        writeln!(s, "{}", serde_json::to_string_pretty(&arr)?)?;
        return Ok(s);
    }
    for (p, r) in results {
        match r {
            Ok(song) => {
                writeln!(s, "{}", p.display())?;
                for i in ranked(&song.mean).into_iter().take(top) {
                    writeln!(s, "  {:<20} {:.4}", labels[i], song.mean[i])?;
                }
            }
            Err(e) => writeln!(s, "{}\n  error: {e}", p.display())?,
        }
    }
    Ok(s)
}

fn scores_map(labels: &[String], scores: &[f32]) -> Value {
    let mut m = Map::new();
    for (l, v) in labels.iter().zip(scores) {
        m.insert(l.clone(), json!(r4(*v)));
    }
    Value::Object(m)
}

pub fn classify_json(results: &Results, labels: &[String], per_frame: bool) -> Result<String> {
    let arr: Vec<Value> = results
        .iter()
        .map(|(p, r)| match r {
            Ok(song) => {
                let mut v = json!({
                    "path": p.display().to_string(),
                    "label": labels[song.by_mean()],
                    "scores": scores_map(labels, &song.mean),
                    "frames": song.frames.len(),
                });
                if per_frame {
                    v["vote"] = json!(labels[song.by_vote()]);
                    v["frame_scores"] =
                        Value::Array(song.frames.iter().map(|f| scores_map(labels, f)).collect());
                }
                v
            }
            Err(e) => json!({"path": p.display().to_string(), "error": e}),
        })
        .collect();
    Ok(format!("{}\n", serde_json::to_string_pretty(&arr)?))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn classify_csv(results: &Results, labels: &[String], per_frame: bool) -> String {
    let mut s = String::from("path,frame,label,vote");
    for l in labels {
        s.push(',');
        s.push_str(&csv_field(l));
    }
    s.push_str(",error\n");
    let empty = ",".repeat(labels.len());
    for (p, r) in results {
        let path = csv_field(&p.display().to_string());
        match r {
            Ok(song) => {
                let mut row = |frame: &str, label: &str, vote: &str, scores: &[f32]| {
                    s.push_str(&format!("{path},{frame},{label},{vote}"));
                    for v in scores {
                        s.push_str(&format!(",{:.4}", v));
                    }
                    s.push_str(",\n");
                };
                let vote = &labels[song.by_vote()];
                row("song", &labels[song.by_mean()], vote, &song.mean);
                if per_frame {
                    for (i, f) in song.frames.iter().enumerate() {
                        let top = mgr_core::model::argmax(f).unwrap_or(0);
                        row(&i.to_string(), &labels[top], "", f);
                    }
                }
            }
            Err(e) => s.push_str(&format!("{path},,,{empty},{}\n", csv_field(e))),
        }
    }
    s
}

pub fn classify_text(results: &Results, labels: &[String], per_frame: bool) -> String {
    let mut s = String::new();
    let width = results
        .iter()
        .map(|(p, _)| p.display().to_string().chars().count())
        .max()
        .unwrap_or(0);
    for (p, r) in results {
        let path = p.display().to_string();
        match r {
            Ok(song) => {
                let order = ranked(&song.mean);
                let top = order[0];
                // Sum-normalised share, as the authors' demo shows it.
                let total: f32 = song.mean.iter().sum();
                let share = if total > 0.0 {
                    song.mean[top] / total
                } else {
                    0.0
                };
                let runners: Vec<String> = order[1..3.min(order.len())]
                    .iter()
                    .map(|&i| format!("{} {:.3}", labels[i], song.mean[i]))
                    .collect();
                let _ = writeln!(
                    s,
                    "{path:<width$}  {:<10} {:.3} ({:>3.0} %)  [{}]  {} frame{}",
                    labels[top],
                    song.mean[top],
                    share * 100.0,
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
    }
    s
}
