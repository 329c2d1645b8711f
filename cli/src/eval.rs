//! `mgr-cli eval gtzan <DIR>...`: accuracy, per-class precision / recall / F1, macro-F1 and the
//! confusion matrix of a model (or of a model trained per fold with `--train`) on GTZAN-style
//! folders, at frame and song level, artist-grouped where Sturm's index is found, next to the
//! MFCC baselines and the published GTZAN CRNN. The work is `mgr_core::eval::run::gtzan`; this
//! file parses arguments and renders the report.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use mgr_core::dataset::artists::TrainArtists;
use mgr_core::dataset::split::SplitSpec;
use mgr_core::eval::report::{EvalReport, LevelReport};
use mgr_core::eval::run::{gtzan as run_gtzan, EvalConfig};
use mgr_core::model::ModelSpec;
use mgr_core::train::experiment::ExperimentConfig;
use mgr_core::train::Strategy;

use crate::options::{apply_threads, RunOptions, TrainOptions};
use crate::ui::Bar;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalWhat,
}

#[derive(Subcommand, Debug)]
enum EvalWhat {
    /// Evaluate on GTZAN (original .au layout, the WAV copy, or any <genre>/<file> tree).
    Gtzan(GtzanArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BaselineArg {
    /// MFCC (+Δ) mean/std per frame with a linear SVM and with 5-NN.
    Mfcc,
    /// The embedded published GTZAN CRNN (Jiménez) on the same test songs.
    Published,
}

#[derive(Args, Debug)]
struct GtzanArgs {
    /// The data folders (used together, e.g. gtzan-mini and gtzan-more).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// gtzan (built in), fcn, crnn, or a safetensors file (e.g. from `mgr-cli finetune`).
    #[arg(long, default_value_t = ModelSpec::default())]
    model: ModelSpec,
    /// all | fault-filtered | random | kfold:K (artist-grouped) | kfold-random:K.
    #[arg(long, default_value = "all")]
    split: SplitSpec,
    /// Train on each fold's training part first (stack, features-softmax, features-svm,
    /// finetune).
    #[arg(long)]
    train: Option<Strategy>,
    /// Also report baselines on the same folds: mfcc, published (comma-separated or repeated).
    #[arg(long, value_enum, value_delimiter = ',')]
    baseline: Vec<BaselineArg>,
    /// What `--train` is told about artists: same (the artists the split used) or none (every
    /// song's artist unknown, as for `finetune` on folders without an index, while the folds
    /// stay split by artist: the accuracy such a model has on artists it never heard).
    #[arg(long, default_value_t = TrainArtists::Same)]
    train_artists: TrainArtists,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the song-level confusion matrix as a PNG heat map.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    train_opts: TrainOptions,
    #[command(flatten)]
    run: RunOptions,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    match a.what {
        EvalWhat::Gtzan(g) => gtzan(g),
    }
}

fn gtzan(a: GtzanArgs) -> Result<ExitCode> {
    apply_threads(&a.run);
    let cfg = EvalConfig {
        experiment: ExperimentConfig {
            train_artists: a.train_artists,
            ..a.train_opts.experiment(&a.dirs, &a.model, a.split, &a.run)
        },
        train: a.train.map(|s| a.train_opts.spec(s)),
        mfcc_baseline: a.baseline.contains(&BaselineArg::Mfcc),
        published_baseline: a.baseline.contains(&BaselineArg::Published),
    };
    let report = run_gtzan(&cfg, &Bar::default())?;
    print!("{}", text(&report));
    if let Some(path) = &a.json {
        let json = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.plot {
        let m = report.main.confusion_matrix();
        let title = format!(
            "{} · {} · song level · accuracy {:.1} %",
            report.main.system,
            report.main.split,
            100.0 * m.accuracy()
        );
        crate::plot::confusion_png(path, &m, &title)?;
    }
    Ok(if report.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn pm(mean: f64, std: f64, folds: usize) -> String {
    if folds > 1 {
        format!("{:5.1} ± {:4.1} %", 100.0 * mean, 100.0 * std)
    } else {
        format!("{:5.1} %       ", 100.0 * mean)
    }
}

/// The columns of a system's line: accuracy, balanced accuracy and macro-F1 (mean ± std over
/// folds), then the pooled accuracy and balanced accuracy.
const HEADER: [&str; 7] = [
    "system",
    "level",
    "accuracy",
    "balanced",
    "macro-F1",
    "pooled",
    "pooled bal.",
];

fn header(s: &mut String) {
    let h = HEADER;
    let _ = writeln!(
        s,
        "{:<28} {:<10} {:>16} {:>16} {:>16} {:>9} {:>11}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6]
    );
}

fn row(s: &mut String, l: &LevelReport, level: &str) {
    let folds = l.folds.iter().filter(|f| f.n > 0).count();
    let _ = writeln!(
        s,
        "{:<28} {:<10} {:>16} {:>16} {:>16} {:>9} {:>11}",
        l.system,
        level,
        pm(l.accuracy, l.accuracy_std, folds),
        pm(l.balanced_accuracy, l.balanced_accuracy_std, folds),
        pm(l.macro_f1, l.macro_f1_std, folds),
        format!("{:.1} %", 100.0 * l.pooled_accuracy),
        format!("{:.1} %", 100.0 * l.pooled_balanced_accuracy),
    );
}

/// The human-readable report.
fn text(r: &EvalReport) -> String {
    let mut s = String::new();
    summary(&mut s, r);
    headline(&mut s, r);
    per_genre(&mut s, &r.main);
    recall_table(&mut s, r);
    confusion(&mut s, &r.main);
    if !r.skipped.is_empty() {
        let _ = writeln!(s, "\n{} files skipped:", r.skipped.len());
        for k in &r.skipped {
            let _ = writeln!(s, "  {}: {}", k.path, k.error);
        }
    }
    let _ = writeln!(
        s,
        "\nwall time {:.1} s (frozen networks and front-end {:.1} s)",
        r.wall_seconds, r.extract_seconds
    );
    s
}

/// What was evaluated on what, how the songs were grouped, and every system's line.
fn summary(s: &mut String, r: &EvalReport) {
    let folds = r.main.folds.len();
    let _ = writeln!(
        s,
        "GTZAN evaluation of {} on {}: {} songs, {} frames, split {} ({folds} fold{})",
        r.main.system,
        r.data.join(" + "),
        r.songs,
        r.frames,
        r.main.split,
        if folds == 1 { "" } else { "s" }
    );
    let artists = &r.sources.artists;
    let grouping = match (r.grouping.as_str(), &r.artist_index) {
        ("artist", Some(idx)) if artists.tag + artists.folder == 0 => {
            format!("clips grouped by artist (index {idx})")
        }
        ("artist", _) => format!("clips grouped by artist ({artists})"),
        _ => "no artist information: every clip its own group".to_string(),
    };
    // Songs of unknown artist are groups of their own: nothing to check them against.
    let unknown = match artists.unknown {
        0 => String::new(),
        n => format!(" (of the songs with a known artist; {n} unknown)"),
    };
    let overlap = match (r.test_songs_with_artist_in_training, r.training.is_empty()) {
        (Some(n), _) => {
            format!("{n} test songs have an artist that training also heard{unknown}")
        }
        (None, true) => "no training: artist overlap does not apply".to_string(),
        (None, false) => "artist overlap between training and test unknown".to_string(),
    };
    let _ = writeln!(s, "{grouping}; {overlap}");
    if r.train_artists == TrainArtists::Hidden && !r.training.is_empty() {
        let _ = writeln!(
            s,
            "training was told nothing about artists (--train-artists none): every song's artist unknown"
        );
    }
    let _ = writeln!(s);
    header(s);
    for l in &r.levels {
        row(s, l, l.level.name());
    }
    for l in &r.baselines {
        row(s, l, "song-mean");
    }
}

/// The headline over the genres with several artists, and the single-artist genres apart.
fn headline(s: &mut String, r: &EvalReport) {
    if r.headline.excluded.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nheadline: songs of the {} genres with two or more artist groups ({} left out: one artist each)",
        r.headline.genres.len(),
        r.headline.excluded.join(", ")
    );
    for l in &r.headline.systems {
        row(s, l, "song-mean");
    }
    let _ = writeln!(
        s,
        "\nsingle-artist genres (cannot be tested on an unheard artist):"
    );
    for g in &r.single_artist_genres {
        if g.test_songs == 0 {
            let _ = writeln!(s, "  {:<10} no test songs ({})", g.genre, g.group);
            continue;
        }
        let acc: Vec<String> = g
            .accuracy
            .iter()
            .map(|(k, v)| format!("{k} {:.0} %", 100.0 * v.as_f64().unwrap_or(0.0)))
            .collect();
        let seen = if g.test_songs_trained_on_genre == 0 {
            "training never saw the genre".to_string()
        } else {
            format!(
                "training saw the genre for {} of {} test songs",
                g.test_songs_trained_on_genre, g.test_songs
            )
        };
        let _ = writeln!(
            s,
            "  {:<10} {} songs ({}), {seen}: {}",
            g.genre,
            g.test_songs,
            g.group,
            acc.join(", ")
        );
    }
}

/// Precision, recall and F1 of every genre with songs or predictions.
fn per_genre(s: &mut String, m: &LevelReport) {
    let _ = writeln!(
        s,
        "\nper genre ({}, song level, pooled over folds):\n{:<12} {:>9} {:>7} {:>6} {:>8}",
        m.system, "genre", "precision", "recall", "F1", "songs"
    );
    for (i, l) in m.labels.iter().enumerate() {
        let predicted: usize = m.confusion.iter().map(|r| r[i]).sum();
        let c = &m.per_class[l];
        let support = c["support"].as_u64().unwrap_or(0);
        if support == 0 && predicted == 0 {
            continue;
        }
        let _ = writeln!(
            s,
            "{:<12} {:>9.3} {:>7.3} {:>6.3} {:>8}",
            l,
            c["precision"].as_f64().unwrap_or(0.0),
            c["recall"].as_f64().unwrap_or(0.0),
            c["f1"].as_f64().unwrap_or(0.0),
            support
        );
    }
}

/// Every system's recall of every genre with test songs (song level, pooled): where class
/// weights show, on the small genres.
fn recall_table(s: &mut String, r: &EvalReport) {
    let systems: Vec<&LevelReport> = std::iter::once(&r.main).chain(&r.baselines).collect();
    if systems.len() < 2 {
        return;
    }
    let _ = write!(
        s,
        "\nrecall per genre (song level, pooled):\n{:<12} {:>6}",
        "genre", "songs"
    );
    for l in &systems {
        let _ = write!(s, " {:>w$}", l.system, w = l.system.len().max(6));
    }
    let _ = writeln!(s);
    for genre in &r.main.labels {
        let support = r.main.per_class[genre]["support"].as_u64().unwrap_or(0);
        if support == 0 {
            continue;
        }
        let _ = write!(s, "{genre:<12} {support:>6}");
        for l in &systems {
            let recall = l.per_class[genre]["recall"].as_f64().unwrap_or(0.0);
            let _ = write!(s, " {:>w$.3}", recall, w = l.system.len().max(6));
        }
        let _ = writeln!(s);
    }
}

/// The pooled song-level confusion matrix, rows with songs only.
fn confusion(s: &mut String, m: &LevelReport) {
    let _ = writeln!(s, "\nconfusion (rows: true genre, columns: predicted):");
    let _ = write!(s, "{:<12}", "");
    for l in &m.labels {
        let short: String = l.chars().take(5).collect();
        let _ = write!(s, "{short:>6}");
    }
    let _ = writeln!(s);
    for (l, counts) in m.labels.iter().zip(&m.confusion) {
        if counts.iter().sum::<usize>() == 0 {
            continue;
        }
        let _ = write!(s, "{l:<12}");
        for c in counts {
            let _ = write!(s, "{c:>6}");
        }
        let _ = writeln!(s);
    }
}
