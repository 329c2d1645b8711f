//! Helpers for the cross-crate tests: locating the data pack beside the checkout, reading
//! `.npy` golden files, loading each model once, and comparing with a printed worst deviation.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use mgr_core::model::Model;

/// The read-only data pack `../shared` beside the repository (override with `MGR_SHARED`).
pub fn data_pack() -> PathBuf {
    if let Some(p) = std::env::var_os("MGR_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
}

/// Path inside the data pack.
pub fn pack(rel: &str) -> PathBuf {
    data_pack().join(rel)
}

/// A `.npy` array (version 1.0, C order) as f64 values plus its shape.
#[derive(Debug, Clone)]
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Npy {
    pub fn as_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Read a `.npy` file holding `<f4`, `<f8` or `<i2` data.
pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not an npy file",
        path.display()
    );
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("npy header");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_src = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("npy shape");
    let shape: Vec<usize> = shape_src
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("npy dim"))
        .collect();
    let body = &bytes[10 + header_len..];
    let data: Vec<f64> = if header.contains("'<f4'") {
        body.chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect()
    } else if header.contains("'<f8'") {
        body.chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect()
    } else if header.contains("'<i2'") {
        body.chunks_exact(2)
            .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
            .collect()
    } else {
        panic!("{}: unsupported dtype in {header}", path.display());
    };
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>(),
        "{}",
        path.display()
    );
    Npy { shape, data }
}

/// `|x − y|` for a comparison, infinite where it is NaN (a NaN on either side, or ∞ − ∞); an
/// infinity against a finite value is infinite anyway. So neither passes any limit, where a
/// plain `max` would skip the NaN and report the other values' difference.
pub fn abs_diff(x: f64, y: f64) -> f64 {
    let d = (x - y).abs();
    if d.is_nan() {
        f64::INFINITY
    } else {
        d
    }
}

/// Largest [`abs_diff`] and the index of its first occurrence (0 for empty slices).
pub fn worst<T: Copy + Into<f64>>(a: &[T], b: &[f64]) -> (f64, usize) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (&x, &y))| (abs_diff(x.into(), y), i))
        .fold((0.0, 0), |acc, v| if v.0 > acc.0 { v } else { acc })
}

/// Largest [`abs_diff`] of two score vectors of the same length (infinite for a NaN).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    let b: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    worst(a, &b).0 as f32
}

/// Assert `max |a − b| ≤ limit`, printing the worst deviation either way.
pub fn assert_close(what: &str, a: &[f32], b: &[f64], limit: f64) {
    let (w, i) = worst(a, b);
    println!("{what}: worst |Δ| = {w:.3e} at {i} (limit {limit:.1e})");
    assert!(
        w <= limit,
        "{what}: worst |Δ| = {w:.3e} at index {i} exceeds {limit:.1e}"
    );
}

/// Each built-in model loaded once per test binary (CPU).
pub fn model(name: &str) -> &'static Model {
    static MODELS: OnceLock<Mutex<Vec<(String, &'static Model)>>> = OnceLock::new();
    let lock = MODELS.get_or_init(|| Mutex::new(Vec::new()));
    let mut models = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, m)) = models.iter().find(|(n, _)| n == name) {
        return m;
    }
    let m: &'static Model = Box::leak(Box::new(
        mgr_core::model::ModelSpec::from(name)
            .load(&candle_core_device())
            .expect("built-in model loads"),
    ));
    models.push((name.to_string(), m));
    m
}

fn candle_core_device() -> mgr_core::model::CandleDevice {
    mgr_core::model::device(mgr_core::model::DeviceKind::Cpu).expect("cpu device")
}

/// A 16-bit PCM WAV file in memory (interleaved `frames × channels` samples in [-1, 1]).
pub fn wav_bytes(samples: &[f32], channels: u16, rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut v = Vec::with_capacity(44 + samples.len() * 2);
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    v.extend_from_slice(&(channels * 2).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let q = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        v.extend_from_slice(&q.to_le_bytes());
    }
    v
}

/// Copy `src` to `dst` and make the copy writable (`fs::copy` keeps the mode, and the data
/// pack's files are read-only).
pub fn writable_copy(src: &Path, dst: &Path) {
    std::fs::copy(src, dst)
        .unwrap_or_else(|e| panic!("{} -> {}: {e}", src.display(), dst.display()));
    let mut perms = std::fs::metadata(dst).expect("copied file").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(dst, perms).expect("make the copy writable");
}

/// A fresh, empty scratch folder under the system temp dir for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mgr-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Make a named pipe (`mkfifo`, coreutils) at `path`.
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", path.display());
}

/// The trained model `mgr-cli finetune` wrote (the default `stack` strategy on gtzan-mini):
/// the fuzz corpus's seed.
pub fn trained_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus/model/seed-finetune-stack.safetensors")
}

/// Issue 22's special files in `dir`, named as models, each with what the error says: a link
/// to `/dev/zero`, a FIFO, a folder and a sparse file one byte over the model cap.
pub fn special_model_files(dir: &Path) -> [(PathBuf, &'static str); 4] {
    let zero = dir.join("zero.safetensors");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.join("fifo.safetensors");
    mkfifo(&fifo);
    let folder = dir.join("folder.safetensors");
    std::fs::create_dir(&folder).unwrap();
    let over_cap = dir.join("huge.safetensors");
    std::fs::File::create(&over_cap)
        .unwrap()
        .set_len(mgr_core::model::spec::MAX_MODEL_BYTES + 1)
        .unwrap();
    [
        (zero, "it is a device, not a regular file"),
        (fifo, "it is a named pipe (FIFO), not a regular file"),
        (folder, "it is a folder, not a regular file"),
        (over_cap, "it is larger than 67108864 bytes"),
    ]
}

/// Best lag (in samples, `b` relative to `a`) within ±`max_lag` by normalised correlation over
/// `a[start..start+len]`, and that correlation.
pub fn best_lag(a: &[f32], b: &[f32], start: usize, len: usize, max_lag: usize) -> (isize, f64) {
    let seg = &a[start..start + len];
    let ea: f64 = seg.iter().map(|v| f64::from(*v).powi(2)).sum();
    let mut best = (0isize, -1.0f64);
    for lag in -(max_lag as isize)..=max_lag as isize {
        let s = start as isize + lag;
        if s < 0 || (s as usize + len) > b.len() {
            continue;
        }
        let other = &b[s as usize..s as usize + len];
        let eb: f64 = other.iter().map(|v| f64::from(*v).powi(2)).sum();
        let dot: f64 = seg
            .iter()
            .zip(other)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let c = dot / (ea.sqrt() * eb.sqrt()).max(1e-30);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "worst |Δ| = inf at index 1 exceeds")]
    fn assert_close_fails_on_nan() {
        assert_close(
            "NaN output",
            &[0.25, f32::NAN, 0.5],
            &[0.25, 0.25, 0.5],
            1.0,
        );
    }

    #[test]
    #[should_panic(expected = "worst |Δ| = inf at index 2 exceeds")]
    fn assert_close_fails_on_infinity() {
        assert_close(
            "∞ output",
            &[0.25, 0.5, f32::INFINITY],
            &[0.25, 0.5, 0.5],
            1.0,
        );
    }

    #[test]
    fn worst_finds_the_first_nan_or_infinity() {
        let want = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(worst(&[1.0f32, 2.5, 3.0, 4.0], &want), (0.5, 1));
        assert_eq!(
            worst(&[1.0f32, 2.5, f32::NAN, 4.0], &want),
            (f64::INFINITY, 2)
        );
        assert_eq!(
            worst(&[f64::NEG_INFINITY, 2.0, f64::NAN, 4.0], &want),
            (f64::INFINITY, 0)
        );
        assert_eq!(max_abs_diff(&[1.0, f32::NAN], &[1.0, 1.0]), f32::INFINITY);
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, f32::NAN]), f32::INFINITY);
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.25]), 0.25);
    }
}

/// What a child process did under [`run_bounded`]: its output, the most memory it held
/// (VmHWM, sampled every few milliseconds while it ran) and how long it took.
#[derive(Debug)]
pub struct BoundedRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub peak_rss_kb: u64,
    pub elapsed: std::time::Duration,
}

/// Address space a bounded child may take (`ulimit -v`, KiB). A child that tries to take
/// more sees its allocations fail instead of taking the machine down; mgr-cli on two
/// threads needs about 150 MB of it.
pub const CHILD_VM_KB: u64 = 1 << 20;

/// Run `program args` in `sh -c 'ulimit -v …; exec …'` (so the limit is the child's own) with
/// at most two glibc malloc arenas, sampling its peak resident memory until it exits. A
/// child still running after `limit` is killed and the test fails.
pub fn run_bounded(
    program: &Path,
    args: &[&std::ffi::OsStr],
    limit: std::time::Duration,
) -> BoundedRun {
    use std::io::Read;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {CHILD_VM_KB} && exec \"$0\" \"$@\""))
        .arg(program)
        .args(args)
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sh");
    // Read the pipes on threads of their own, so that a chatty child never blocks on them.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let started = std::time::Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kb(&s))
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} still ran after {limit:?}", program.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
    };
    let elapsed = started.elapsed();
    BoundedRun {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        peak_rss_kb: peak,
        elapsed,
    }
}

/// `VmHWM` (peak resident set, KiB) out of a `/proc/PID/status` text.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
