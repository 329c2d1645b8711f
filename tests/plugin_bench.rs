//! Plugin benchmark: the release `mgr.clap` played in real time through a CLAP host.
//!
//! `cargo xtask bundle mgr-plugin --release && cargo bench -p mgr-tests --bench plugin`
//!
//! Prints the cost of `process()` per 512-sample stereo block (against the block's real time
//! and against the host copying the same block, measured in the same run), the analysis
//! worker's CPU while playing at the default hop, the time from play to the first song genre,
//! and the resident memory one instance adds.
//!
//! Environment: `MGR_BENCH_SECONDS` (real-time playback, default 45), `MGR_BENCH_RATE` (host
//! sample rate, default 48000: the clip's 44.1 kHz samples are played at that rate — the cost
//! does not depend on the content), `MGR_BENCH_JSON` (also write the numbers there as JSON;
//! `bench/compare.py` reads them for the plugin rows of the peer table).

use std::time::{Duration, Instant};

use mgr_core::audio::decode_file;
use mgr_tests::pack;

#[path = "plugin_host.rs"]
mod plugin_host;
use plugin_host::*;

const BLOCK: usize = 512;

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &[&str]) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !prefix.iter().any(|p| comm.trim().starts_with(p)) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 12 {
                let u: f64 = f[11].parse().unwrap_or(0.0);
                let s: f64 = f[12].parse().unwrap_or(0.0);
                total += (u + s) / tick;
            }
        }
    }
    total
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let seconds: f64 = std::env::var("MGR_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45.0);
    const CLIP: &str = "audio/bensound/bensound-dubstep.mp3";
    let audio = decode_file(&pack(CLIP)).expect("decode");
    let rate: f64 = std::env::var("MGR_BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48_000.0);
    let block_s = BLOCK as f64 / rate;

    let rss0 = rss_mib();
    let (_entry, mut instance) = load();
    let mut s = Session::start(&mut instance, rate, BLOCK);
    let rss_loaded = rss_mib();

    // Real-time playback: one block per block period.
    let n_blocks = (seconds / block_s) as usize;
    let mut process_ns = Vec::with_capacity(n_blocks);
    let mut copy_ns = Vec::with_capacity(n_blocks);
    let mut scratch = vec![0f32; 2 * BLOCK];
    let cpu0 = thread_cpu(&["mgr-analysis", "mgr-candle"]);
    let start = Instant::now();
    let mut first_genre: Option<Duration> = None;
    let mut at = 0usize;
    for k in 0..n_blocks {
        if at + BLOCK > audio.samples().len() {
            at = 0;
        }
        let x = &audio.samples()[at..at + BLOCK];
        at += BLOCK;
        // Peer: what a host spends just copying the same stereo block.
        let t = Instant::now();
        scratch[..BLOCK].copy_from_slice(x);
        scratch[BLOCK..].copy_from_slice(x);
        std::hint::black_box(&mut scratch);
        copy_ns.push(t.elapsed().as_nanos() as f64);

        let t = Instant::now();
        let (l, _) = s.block(x, x);
        process_ns.push(t.elapsed().as_nanos() as f64);
        assert_eq!(l, x);

        if first_genre.is_none() && k % 32 == 0 {
            let a = analysis(&save_state(&mut instance));
            if a["song"].is_object() {
                first_genre = Some(start.elapsed());
            }
        }
        let next = start + Duration::from_secs_f64((k + 1) as f64 * block_s);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = thread_cpu(&["mgr-analysis", "mgr-candle"]) - cpu0;
    let rss_playing = rss_mib();
    let a = analysis(&save_state(&mut instance));
    s.stop(&mut instance);

    // A second instance: what one more adds once its model is loaded and analysing.
    let (_entry2, mut second) = load();
    let mut s2 = Session::start(&mut second, rate, BLOCK);
    for c in audio
        .samples()
        .chunks(BLOCK)
        .take((35.0 / block_s) as usize)
    {
        if c.len() == BLOCK {
            s2.block(c, c);
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss_two = rss_mib();
    s2.stop(&mut second);

    let proc_med = median(&mut process_ns);
    let copy_med = median(&mut copy_ns);
    let proc_max = process_ns.iter().copied().fold(0.0, f64::max);
    let budget_ns = block_s * 1e9;
    println!(
        "mgr plugin benchmark (release bundle, {:.1} kHz, {BLOCK}-sample blocks, {seconds:.0} s of real-time playback, default hop)",
        rate / 1000.0
    );
    println!(
        "process() per block: median {:.2} µs, max {:.1} µs = {:.4} % of the block's {:.2} ms; {:.1}× a plain stereo copy of the block ({:.2} µs)",
        proc_med / 1e3,
        proc_max / 1e3,
        100.0 * proc_med / budget_ns,
        block_s * 1e3,
        proc_med / copy_med.max(1.0),
        copy_med / 1e3
    );
    println!(
        "analysis worker CPU while playing: {:.1} % of one core ({cpu:.2} s CPU over {wall:.1} s; {} windows scored)",
        100.0 * cpu / wall,
        a["history"].as_array().map_or(0, |h| h.len())
    );
    match first_genre {
        Some(t) => println!(
            "play → first song genre: {:.2} s (29.12 s window + model load + first forward pass)",
            t.as_secs_f64()
        ),
        None => println!("play → first song genre: none within {seconds:.0} s"),
    }
    println!(
        "memory: {:.0} MiB RSS before, {:.0} MiB with one instance loaded, {:.0} MiB while it analyses; a second analysing instance adds {:.0} MiB",
        rss0,
        rss_loaded,
        rss_playing,
        rss_two - rss_playing
    );
    println!(
        "song so far: {} ({} frames), dropped samples: {}",
        a["song_label"], a["song"]["frames"], a["dropped_samples"]
    );
    if let Ok(path) = std::env::var("MGR_BENCH_JSON") {
        let doc = serde_json::json!({
            "clip": CLIP.rsplit('/').next(),
            "rate": rate,
            "block": BLOCK,
            "channels": 2,
            // The plugin's default `hop` parameter (Update every, 5 s).
            "hop_s": 5.0,
            "seconds": seconds,
            "block_ms": block_s * 1e3,
            "process_ns_median": proc_med,
            "process_ns_max": proc_max,
            "copy_ns_median": copy_med,
            "worker_cpu_s": cpu,
            "wall_s": wall,
            "worker_cpu_pct": 100.0 * cpu / wall,
            "windows": a["history"].as_array().map_or(0, |h| h.len()),
            "first_genre_s": first_genre.map(|t| t.as_secs_f64()),
            "dropped": a["dropped_samples"],
            "rss_mib": {"before": rss0, "loaded": rss_loaded, "playing": rss_playing,
                        "second_instance": rss_two - rss_playing},
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json"))
            .expect("write MGR_BENCH_JSON");
    }
}
