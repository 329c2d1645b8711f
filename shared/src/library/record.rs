//! One song's result as a JSON object or CSV rows, the append-only result files
//! (`--jsonl FILE`, `--csv-file FILE`) and the resume index read back from them.
//!
//! * JSON Lines: one object per song, `{"path", "label", "scores", "frames"}` as in
//!   `classify --json` (plus `"vote"` and `"frame_scores"` with per-frame output,
//!   `"timeline"` and `"segments"` with a genre timeline, `"tags"` when tags were written) and
//!   `"model"`, `"size"`, `"mtime_ns"`: the model that scored it and the file's size in bytes
//!   and modification time (nanoseconds since 1970) when it was read. A failed song is
//!   `{"path", "error", "model", "size", "mtime_ns"}`. A run with a timeline adds
//!   `"timeline_settings"` (after `"model"`, on every line: [`TimelineSettings::key`]).
//! * CSV: the columns of `classify --csv` followed by `size,mtime_ns,model` (and
//!   `timeline_settings` with a timeline); one header line. With a timeline `classify --csv`
//!   has `start,end` columns after `frame`, and rows `window` and `segment` after the song's.
//! * Each song is appended as one `write` of whole lines, so a killed run leaves at most a
//!   partial last line; resuming cuts it off.
//! * Resuming skips a path whose latest successful record has the file's current size and
//!   mtime (a changed file is classified again); failed songs are tried again (a later line
//!   for the same path supersedes an earlier one). A file holds one kind of result: a line of
//!   another model, or made with other timeline settings (or with a timeline where the run has
//!   none, or the other way round), refuses the resume.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value};

use super::LibraryError;
use crate::aggregate::SongScores;
use crate::model::argmax;
use crate::timeline::{self, SegmentConfig, TimelineSettings};

/// Size and modification time: what a result is matched on when resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Length in bytes.
    pub size: u64,
    /// Nanoseconds since 1970-01-01 (negative before).
    pub mtime_ns: i64,
}

impl FileId {
    /// The identity of `path` now (following links), if it can be read.
    pub fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta.modified().ok()?;
        let mtime_ns = match mtime.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok()?,
            Err(e) => -i64::try_from(e.duration().as_nanos()).ok()?,
        };
        Some(Self {
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// Format of a result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines: one object per song (`--jsonl FILE`).
    Jsonl,
    /// CSV with one header line (`--csv-file FILE`).
    Csv,
}

/// One song's outcome as written to a result file and printed by `classify`.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// The audio file.
    pub path: &'a Path,
    /// Its scores, or the error message of a failed song.
    pub result: Result<&'a SongScores, &'a str>,
    /// Output labels of the model, in output order.
    pub labels: &'a [String],
    /// Also write the vote decision and every frame's scores.
    pub per_frame: bool,
    /// What happened to the file's tags (`--write-tags`), if anything was asked.
    pub tags: Option<&'a str>,
    /// The run's genre timeline, if it asked for one: adds the windows and segments.
    pub timeline: Option<TimelineSettings>,
}

/// Round to 4 decimals for output (scores are f32; more digits are noise).
pub fn round4(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

pub(super) fn scores_map(labels: &[String], scores: &[f32]) -> Value {
    let mut m = Map::new();
    for (l, v) in labels.iter().zip(scores) {
        m.insert(l.clone(), json!(round4(*v)));
    }
    Value::Object(m)
}

/// Seconds rounded to the millisecond for output (a 12 kHz sample is 0.083 ms).
pub fn round_ms(t: f64) -> f64 {
    (t * 1e3).round() / 1e3
}

/// The `"timeline"` and `"segments"` arrays of a song: one `{"start", "end", "label", key:
/// scores(…)}` per window and per segment ([`timeline::segments`] with `segments`), times in
/// seconds. `classify` writes the scores as `"scores": {label: score}`, `tag` its top tags.
pub fn timeline_json(
    song: &SongScores,
    labels: &[String],
    segments: &SegmentConfig,
    key: &str,
    scores: impl Fn(&[f32]) -> Value,
) -> (Value, Value) {
    let span = |start: f64, end: f64, label: usize, s: &[f32]| {
        let mut m = Map::new();
        m.insert("start".into(), json!(round_ms(start)));
        m.insert("end".into(), json!(round_ms(end)));
        m.insert("label".into(), json!(labels.get(label)));
        m.insert(key.into(), scores(s));
        Value::Object(m)
    };
    let windows = song
        .timeline
        .iter()
        .map(|w| span(w.start, w.end, w.top(), &w.scores))
        .collect();
    let segments = timeline::segments(&song.timeline, segments)
        .iter()
        .map(|s| span(s.start, s.end, s.label, &s.scores))
        .collect();
    (Value::Array(windows), Value::Array(segments))
}

/// A path as text (lossy for paths that are not UTF-8).
pub fn path_text(p: &Path) -> String {
    p.display().to_string()
}

impl Record<'_> {
    /// The object of `classify --json`: `{"path", "label", "scores", "frames"}` (+ `"vote"`,
    /// `"frame_scores"` per frame, `"timeline"`, `"segments"` with a timeline, `"tags"`), or
    /// `{"path", "error"}`.
    pub fn json(&self) -> Value {
        let path = path_text(self.path);
        let mut v = match self.result {
            Ok(song) => {
                let labels = self.labels;
                let mut v = json!({
                    "path": path,
                    "label": labels[song.by_mean()],
                    "scores": scores_map(labels, &song.mean),
                    "frames": song.frames.len(),
                });
                if self.per_frame {
                    v["vote"] = json!(labels[song.by_vote()]);
                    v["frame_scores"] =
                        Value::Array(song.frames.iter().map(|f| scores_map(labels, f)).collect());
                }
                if let Some(t) = &self.timeline {
                    let (windows, segments) =
                        timeline_json(song, labels, &t.segments, "scores", |s| {
                            scores_map(labels, s)
                        });
                    v["timeline"] = windows;
                    v["segments"] = segments;
                }
                v
            }
            Err(e) => json!({"path": path, "error": e}),
        };
        if let Some(t) = self.tags {
            v["tags"] = json!(t);
        }
        v
    }

    /// One JSON Lines line (with its newline): [`Record::json`] plus model and file identity.
    pub fn jsonl(&self, model: &str, id: Option<FileId>) -> String {
        let mut v = self.json();
        v["model"] = json!(model);
        if let Some(t) = &self.timeline {
            v["timeline_settings"] = json!(t.key());
        }
        if let Some(id) = id {
            v["size"] = json!(id.size);
            v["mtime_ns"] = json!(id.mtime_ns);
        }
        let mut line = v.to_string();
        line.push('\n');
        line
    }

    /// The CSV rows of `classify --csv` (one `song` row, plus one per frame with per-frame
    /// output, then one `window` row per window and one `segment` row per segment with a
    /// timeline; an error row for a failed song), each followed by `extra` columns.
    pub fn csv_rows(&self, extra: &str) -> String {
        let mut s = String::new();
        let labels = self.labels;
        let mut row = Row {
            out: &mut s,
            path: csv_field(&path_text(self.path)),
            timed: self.timeline.is_some(),
            n_labels: labels.len(),
            extra,
        };
        match self.result {
            Ok(song) => {
                let (mean, vote) = (&labels[song.by_mean()], &labels[song.by_vote()]);
                row.push("song", None, mean, vote, Some(&song.mean), "");
                if self.per_frame {
                    for (i, f) in song.frames.iter().enumerate() {
                        let top = &labels[argmax(f).unwrap_or(0)];
                        row.push(&i.to_string(), None, top, "", Some(f), "");
                    }
                }
                if let Some(t) = &self.timeline {
                    for w in &song.timeline {
                        let span = Some((w.start, w.end));
                        row.push("window", span, &labels[w.top()], "", Some(&w.scores), "");
                    }
                    for seg in timeline::segments(&song.timeline, &t.segments) {
                        let span = Some((seg.start, seg.end));
                        let label = &labels[seg.label];
                        row.push("segment", span, label, "", Some(&seg.scores), "");
                    }
                }
            }
            Err(e) => row.push("", None, "", "", None, &csv_field(e)),
        }
        s
    }
}

/// Writes the CSV rows of one song.
struct Row<'a> {
    out: &'a mut String,
    path: String,
    /// The `start,end` columns are there (a run with a timeline).
    timed: bool,
    n_labels: usize,
    extra: &'a str,
}

impl Row<'_> {
    /// One row: path, `frame` (the row's kind), `start,end` (with a timeline), label, vote,
    /// the scores (or empty fields), error, then the extra columns.
    fn push(
        &mut self,
        frame: &str,
        span: Option<(f64, f64)>,
        label: &str,
        vote: &str,
        scores: Option<&[f32]>,
        error: &str,
    ) {
        let s = &mut *self.out;
        s.push_str(&format!("{},{frame}", self.path));
        if self.timed {
            match span {
                Some((a, b)) => s.push_str(&format!(",{a:.3},{b:.3}")),
                None => s.push_str(",,"),
            }
        }
        s.push_str(&format!(",{label},{vote}"));
        match scores {
            Some(scores) => scores.iter().for_each(|v| s.push_str(&format!(",{v:.4}"))),
            None => s.push_str(&",".repeat(self.n_labels)),
        }
        s.push(',');
        s.push_str(error);
        if !self.extra.is_empty() {
            s.push(',');
            s.push_str(self.extra);
        }
        s.push('\n');
    }
}

/// The CSV header of `classify --csv` (`start,end` after `frame` with a timeline, `extra`
/// column names appended).
pub fn csv_header(labels: &[String], timeline: bool, extra: &[&str]) -> String {
    let mut s = String::from(if timeline {
        "path,frame,start,end,label,vote"
    } else {
        "path,frame,label,vote"
    });
    for l in labels {
        s.push(',');
        s.push_str(&csv_field(l));
    }
    s.push_str(",error");
    for e in extra {
        s.push(',');
        s.push_str(e);
    }
    s.push('\n');
    s
}

/// Quote a CSV field when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Extra columns of a CSV result file (and `timeline_settings` with a timeline).
const CSV_EXTRA: [&str; 3] = ["size", "mtime_ns", "model"];

/// The extra column names of a CSV result file.
fn csv_extra(timeline: bool) -> Vec<&'static str> {
    let mut extra = CSV_EXTRA.to_vec();
    if timeline {
        extra.push("timeline_settings");
    }
    extra
}

/// How a result line's timeline settings read in a message.
fn timeline_text(key: Option<&str>) -> String {
    match key {
        Some("") => "with a timeline".into(),
        Some(k) => format!("with a timeline ({k})"),
        None => "without a timeline".into(),
    }
}

/// Parse CSV text into records of fields; also returns the byte offset where the last
/// complete record ends (a record is complete when its line break is there and its quotes
/// are closed).
fn parse_csv(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut complete_end = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek().map(|(_, c)| *c) == Some('"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut fields));
                complete_end = i + 1;
            }
            c => field.push(c),
        }
    }
    (records, complete_end)
}

/// What a result file already holds.
#[derive(Debug, Clone, Default)]
pub struct ResumeIndex {
    /// Path → identity of its latest successful record.
    done: HashMap<String, Option<FileId>>,
    /// Bytes of complete records; anything after is a partial line of a killed run.
    complete_len: u64,
    /// Length of the file.
    len: u64,
}

impl ResumeIndex {
    /// Read a result file written by an earlier run with the same model, labels and timeline
    /// settings.
    pub fn load(
        path: &Path,
        format: Format,
        model: &str,
        labels: &[String],
        timeline: Option<&TimelineSettings>,
    ) -> Result<Self, LibraryError> {
        let Some(text) = read_if_exists(path)? else {
            return Ok(Self::default());
        };
        let want = timeline.map(TimelineSettings::key);
        let check = Check {
            path,
            model,
            want: want.as_deref(),
        };
        let mut done = HashMap::new();
        let mut take = |seen: Seen| check.take(&mut done, seen);
        let complete_len = match format {
            Format::Jsonl => jsonl_records(&text, &check, &mut take)?,
            Format::Csv => csv_records(&text, labels, &check, &mut take)?,
        };
        Ok(Self {
            done,
            complete_len: complete_len as u64,
            len: text.len() as u64,
        })
    }

    /// True if `path` has a successful record made when the file had identity `id`.
    pub fn is_done(&self, path: &Path, id: Option<FileId>) -> bool {
        match (self.done.get(&path_text(path)), id) {
            (Some(Some(recorded)), Some(now)) => *recorded == now,
            _ => false,
        }
    }

    /// Bytes of a partial last record (cut off when the file is reopened for appending).
    pub fn partial_tail(&self) -> u64 {
        self.len - self.complete_len
    }
}

/// The whole result file, or `None` when there is none yet.
fn read_if_exists(path: &Path) -> Result<Option<String>, LibraryError> {
    let io = |e| LibraryError::from(crate::error::IoError::read(path)(e));
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_string(&mut text).map_err(io)?;
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}

/// One record of a result file, as resuming needs it.
struct Seen<'t> {
    /// 1-based line (for CSV, the record's position counting the header as 1).
    line: usize,
    path: String,
    id: Option<FileId>,
    /// A song decision (not an error record).
    ok: bool,
    model: Option<&'t str>,
    /// The record's timeline settings key, `None` for a run without a timeline.
    timeline: Option<&'t str>,
}

/// What every record of a result file to resume must agree with.
struct Check<'a> {
    path: &'a Path,
    model: &'a str,
    /// This run's timeline settings key.
    want: Option<&'a str>,
}

impl Check<'_> {
    fn bad(&self, line: usize, reason: String) -> LibraryError {
        LibraryError::NotAResultFile {
            path: self.path.to_path_buf(),
            line,
            reason,
        }
    }

    fn other_timeline(&self, found: Option<&str>, line: usize) -> LibraryError {
        LibraryError::OtherTimeline {
            path: self.path.to_path_buf(),
            line,
            found: timeline_text(found),
            wanted: timeline_text(self.want),
        }
    }

    /// Record `seen` in `done` (the latest record of a path wins), or refuse a record of
    /// another model or other timeline settings.
    fn take(
        &self,
        done: &mut HashMap<String, Option<FileId>>,
        seen: Seen,
    ) -> Result<(), LibraryError> {
        if let Some(m) = seen.model.filter(|m| *m != self.model) {
            return Err(LibraryError::OtherModel {
                path: self.path.to_path_buf(),
                found: m.to_string(),
                model: self.model.to_string(),
                line: seen.line,
            });
        }
        if seen.ok {
            done.insert(seen.path, seen.id);
        } else {
            done.remove(&seen.path);
        }
        if seen.timeline != self.want {
            return Err(self.other_timeline(seen.timeline, seen.line));
        }
        Ok(())
    }
}

/// The records of a JSON-lines result file, in order, to `take`; returns the length of its
/// complete lines.
fn jsonl_records(
    text: &str,
    check: &Check,
    take: &mut dyn FnMut(Seen) -> Result<(), LibraryError>,
) -> Result<usize, LibraryError> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    for (n, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| check.bad(n + 1, e.to_string()))?;
        let p = v["path"]
            .as_str()
            .ok_or_else(|| check.bad(n + 1, "no \"path\"".into()))?;
        let id = match (v["size"].as_u64(), v["mtime_ns"].as_i64()) {
            (Some(size), Some(mtime_ns)) => Some(FileId { size, mtime_ns }),
            _ => None,
        };
        take(Seen {
            line: n + 1,
            path: p.to_string(),
            id,
            ok: v.get("label").is_some(),
            model: v["model"].as_str(),
            timeline: v["timeline_settings"].as_str(),
        })?;
    }
    Ok(complete)
}

/// The song records of a CSV result file, in order, to `take` (per-frame, window and
/// segment rows are skipped); returns the length of its complete records.
fn csv_records(
    text: &str,
    labels: &[String],
    check: &Check,
    take: &mut dyn FnMut(Seen) -> Result<(), LibraryError>,
) -> Result<usize, LibraryError> {
    let (records, complete) = parse_csv(text);
    let mut records = records.into_iter();
    let timed = check.want.is_some();
    let header_of = |timed: bool| {
        let (h, _) = parse_csv(&csv_header(labels, timed, &csv_extra(timed)));
        h.into_iter().next()
    };
    if let Some(header) = records.next() {
        if header_of(timed).as_ref() != Some(&header) {
            if header_of(!timed).as_ref() == Some(&header) {
                return Err(check.other_timeline((!timed).then_some(""), 1));
            }
            return Err(check.bad(1, "the header does not match this model's labels".into()));
        }
    }
    let extra = csv_extra(timed).len();
    let n_cols = 5 + labels.len() + extra + if timed { 2 } else { 0 };
    for (n, r) in records.enumerate() {
        if r.len() != n_cols {
            return Err(check.bad(n + 2, format!("{} fields, not {n_cols}", r.len())));
        }
        let frame = r[1].as_str();
        if frame != "song" && !frame.is_empty() {
            continue; // per-frame, window and segment rows
        }
        let tail = &r[n_cols - extra..];
        let id = match (tail[0].parse(), tail[1].parse()) {
            (Ok(size), Ok(mtime_ns)) => Some(FileId { size, mtime_ns }),
            _ => None,
        };
        take(Seen {
            line: n + 2,
            path: r[0].clone(),
            id,
            ok: frame == "song",
            model: Some(&tail[2]),
            timeline: tail.get(3).map(String::as_str),
        })?;
    }
    Ok(complete)
}

/// Appends records to a result file, one `write` per song.
#[derive(Debug)]
pub struct RecordWriter {
    file: File,
    path: PathBuf,
    format: Format,
    model: String,
}

impl RecordWriter {
    /// Open `path` for appending. Without `resume` the file must not hold results yet (so
    /// two runs are never mixed by accident); with `resume` a partial last record (a killed
    /// run) is cut off first. A new or empty CSV file gets the header (with the timeline's
    /// columns when `timeline`).
    pub fn open(
        path: &Path,
        format: Format,
        resume: Option<&ResumeIndex>,
        model: &str,
        labels: &[String],
        timeline: bool,
    ) -> Result<Self, LibraryError> {
        let io = |e| LibraryError::from(crate::error::IoError::write(path)(e));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        match resume {
            None if len > 0 => {
                return Err(LibraryError::ResultsExist {
                    path: path.to_path_buf(),
                })
            }
            Some(index) if index.partial_tail() > 0 && index.len == len => {
                file.set_len(index.complete_len).map_err(io)?;
            }
            Some(index) if index.len != len => {
                return Err(LibraryError::ChangedWhileReading {
                    path: path.to_path_buf(),
                })
            }
            _ => {}
        }
        let len = file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut w = Self {
            file,
            path: path.to_path_buf(),
            format,
            model: model.to_string(),
        };
        if format == Format::Csv && len == 0 {
            w.append(&csv_header(labels, timeline, &csv_extra(timeline)))?;
        }
        Ok(w)
    }

    fn append(&mut self, text: &str) -> Result<(), LibraryError> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| crate::error::IoError::write(&self.path)(e).into())
    }

    /// Append one song (whole lines, one `write`).
    pub fn write(&mut self, record: &Record<'_>, id: Option<FileId>) -> Result<(), LibraryError> {
        let text = match self.format {
            Format::Jsonl => record.jsonl(&self.model, id),
            Format::Csv => {
                let (size, mtime) = id.map_or((String::new(), String::new()), |id| {
                    (id.size.to_string(), id.mtime_ns.to_string())
                });
                let mut extra = format!("{size},{mtime},{}", csv_field(&self.model));
                if let Some(t) = &record.timeline {
                    extra.push(',');
                    extra.push_str(&csv_field(&t.key()));
                }
                record.csv_rows(&extra)
            }
        };
        self.append(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parser_handles_quotes_and_partial_records() {
        let text = "a,\"b,c\",\"say \"\"hi\"\"\"\n\"two\nlines\",x,y\nbroken,\"open";
        let (records, end) = parse_csv(text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], ["a", "b,c", "say \"hi\""]);
        assert_eq!(records[1], ["two\nlines", "x", "y"]);
        assert_eq!(&text[end..], "broken,\"open");
        let quoted = csv_field("a \"b\", c");
        assert_eq!(parse_csv(&format!("{quoted}\n")).0[0], ["a \"b\", c"]);
    }
}
