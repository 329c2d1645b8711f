//! Crafted and corrupt audio (issue 13): thousands of deterministic variants of the data pack's
//! FLAC, WAV, MP3, Ogg Vorbis and `.au` files (header fields at their extremes, 32-bit words
//! set to 0 and 0xFFFFFFFF, bit flips, truncations, overwritten runs), each decoded through
//! the public entry points. Every decode must end in `Ok` with valid audio or in a one-line
//! `Err`: no panic, no allocation request over [`MAX_REQUEST`] (this binary's allocator
//! refuses it and records it, so an over-large allocation fails the test, not the machine),
//! no more than [`MAX_LIVE`] bytes live at once, and no variant slower than [`MAX_SECONDS`].
//!
//! The same variants come out on every run (a fixed-seed generator), so a failure names a
//! variant that can be rebuilt; `MGR_MUTATE_TRACE=1` prints each one before it is decoded
//! (with `--nocapture`), which finds the culprit of an abort, and `MGR_MUTATE_ONLY=N` runs
//! variant `N` alone.

// The counting allocator: `GlobalAlloc` is an unsafe trait. Nothing else here is unsafe.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mgr_core::audio::{
    decode_bytes, decode_bytes_symphonia, decode_file, decode_flac_own, Audio, MAX_INPUT_RATE,
};
use mgr_core::config::MIN_INPUT_RATE;
use mgr_core::rng::Rng;
use mgr_tests::{pack, scratch_dir};

/// Largest single allocation any decode may ask for. The seeds are 2–3 s of audio (under
/// 700 kB), so their honest decodes stay below a few MB: anything near this is a size taken
/// from a header.
const MAX_REQUEST: usize = 64 << 20;
/// Most bytes live at once (two decoding threads, the seeds and the test's own buffers).
const MAX_LIVE: usize = 256 << 20;
/// Slowest acceptable decode of one variant (a dev build; honest ones take milliseconds).
const MAX_SECONDS: f64 = 5.0;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The largest request refused (0: none).
static REFUSED: AtomicUsize = AtomicUsize::new(0);
/// Variants finished, and the one each worker is on (+1; 0: none), for the watchdog.
static DONE: AtomicUsize = AtomicUsize::new(0);
static WORKING: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
/// A decode that makes no progress for this long is a hang: the watchdog ends the test
/// process, naming the variants in flight, instead of leaving CI to time out.
const HANG_SECONDS: u64 = 120;

/// The system allocator, refusing requests over [`MAX_REQUEST`] and counting live bytes.
struct Limited;

thread_local! {
    /// The variant this thread is decoding, for the refusal message.
    static CURRENT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// Panics on this thread seen by the panic hook, caught or not.
    static PANICS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Limited {
    /// Refuse (and say so on stderr, past the test harness's capture, since the caller may
    /// abort) a request over [`MAX_REQUEST`].
    fn refuse(size: usize) -> bool {
        if size <= MAX_REQUEST {
            return false;
        }
        REFUSED.fetch_max(size, Relaxed);
        let mut line = [0u8; 128];
        let mut w = std::io::Cursor::new(&mut line[..]);
        let variant = CURRENT.with(|c| c.get());
        // Formatting into a stack buffer and a raw write to stderr allocate nothing.
        if writeln!(w, "mutate: refused {size} bytes in variant #{variant}").is_ok() {
            let end = w.position() as usize;
            let _ = std::io::stderr().write_all(&line[..end]);
        }
        true
    }

    fn note(size: usize) {
        let live = LIVE.fetch_add(size, Relaxed) + size;
        PEAK.fetch_max(live, Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` with the caller's layout; refusing a request
// returns null, which `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::note(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::refuse(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::note(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::refuse(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            Self::note(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Limited = Limited;

/// One valid, short input of one format.
struct Seed {
    name: &'static str,
    ext: &'static str,
    bytes: Vec<u8>,
    /// Named header fields: (name, offset, width in bytes, big-endian, extreme values).
    fields: Vec<Field>,
}

struct Field {
    name: &'static str,
    at: usize,
    width: usize,
    big_endian: bool,
    values: Vec<u64>,
}

fn field(name: &'static str, at: usize, width: usize, big_endian: bool, values: &[u64]) -> Field {
    Field {
        name,
        at,
        width,
        big_endian,
        values: values.to_vec(),
    }
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(pack(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fn put(bytes: &mut [u8], at: usize, width: usize, big_endian: bool, v: u64) {
    for i in 0..width.min(bytes.len().saturating_sub(at)) {
        let shift = if big_endian {
            8 * (width - 1 - i)
        } else {
            8 * i
        };
        bytes[at + i] = (v >> shift) as u8;
    }
}

/// A RIFF/WAVE file cut to `keep` data bytes, its RIFF and data sizes fixed; the offsets of
/// the `fmt ` body and of the data size.
fn short_wav(rel: &str, keep: usize) -> (Vec<u8>, usize, usize) {
    let b = read(rel);
    let (mut fmt, mut p) = (0, 12);
    loop {
        let (id, size) = (&b[p..p + 4], le32(&b, p + 4));
        if id == b"fmt " {
            fmt = p + 8;
        }
        if id == b"data" {
            let mut v = b[..p + 8 + keep].to_vec();
            put(&mut v, p + 4, 4, false, keep as u64);
            let riff = v.len() as u64 - 8;
            put(&mut v, 4, 4, false, riff);
            return (v, fmt, p + 4);
        }
        p += 8 + size + (size & 1);
    }
}

/// The first frames of a pack FLAC as a complete stream our own decoder accepts: cut at the
/// first frame boundary past `min_len`, STREAMINFO's total set to what is left.
fn short_flac(rel: &str, min_len: usize) -> Vec<u8> {
    let b = read(rel);
    let mut unknown_total = b.clone();
    // STREAMINFO's total samples: the low 36 bits of bytes 18..26 (0 means unknown).
    unknown_total[21] &= 0xf0;
    unknown_total[22..26].fill(0);
    for p in min_len..b.len() - 1 {
        if b[p] == 0xff && b[p + 1] == 0xf8 {
            if let Some(a) = decode_flac_own(&unknown_total[..p]) {
                let mut v = unknown_total[..p].to_vec();
                let n = a.samples().len() as u64;
                v[21] |= (n >> 32) as u8;
                put(&mut v, 22, 4, true, n & 0xffff_ffff);
                return v;
            }
        }
    }
    panic!("{rel}: no frame boundary found");
}

fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();

    let flac = short_flac("data/gtzan-mini/genres/blues/blues.00000.flac", 40_000);
    // STREAMINFO body at 8: block sizes 8, 10; frame sizes 12, 15 (24 bit); then 20 bits
    // rate, 3 channels − 1, 5 bits − 1, 36 total samples from byte 18.
    let flac_fields = vec![
        field("min block", 8, 2, true, &[0, 1, 15, 16, 65535]),
        field("max block", 10, 2, true, &[0, 1, 15, 16, 4095, 4097, 65535]),
        field("frame sizes", 12, 6, true, &[0, u64::MAX]),
        // The 20-bit rate above a zero nibble (mono, bits − 1 < 16): 0, 1, just past
        // symphonia's 655 350, the largest.
        field(
            "rate",
            18,
            3,
            true,
            &[0, 1 << 4, 655_351 << 4, 0xf_ffff << 4],
        ),
        field(
            "rate|chan|bits",
            20,
            1,
            true,
            &[0x00, 0x0e, 0x0f, 0xf0, 0xfe, 0xff],
        ),
        field("bits|total", 21, 1, true, &[0x00, 0x0f, 0xf0, 0xff]),
        field(
            "total",
            22,
            4,
            true,
            &[0, 1, 0x7fff_ffff, 0xffff_ffff, 0x0001_0000],
        ),
        field(
            "block header",
            4,
            4,
            true,
            &[0, 0x0000_0022, 0x8000_0022, 0x80ff_ffff],
        ),
        field("md5", 26, 8, true, &[0, u64::MAX]),
    ];
    seeds.push(Seed {
        name: "flac",
        ext: "flac",
        bytes: flac,
        fields: flac_fields,
    });

    for (name, rel, keep) in [
        ("wav", "data/gtzan-mini/formats/rock.00001.wav", 88_200),
        (
            "wav-s24",
            "data/gtzan-mini/formats/rock.00001.10s-stereo44k-s24.wav",
            132_300,
        ),
    ] {
        let (bytes, fmt, data_size) = short_wav(rel, keep);
        let u32s = [0, 1, 7_999, 768_001, 0x7fff_ffff, 0xffff_ffff];
        let mut fields = vec![
            field("riff size", 4, 4, false, &[0, 4, 0xffff_ffff]),
            field(
                "format tag",
                fmt,
                2,
                false,
                &[0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xfffe, 0xffff],
            ),
            field("channels", fmt + 2, 2, false, &[0, 1, 2, 8, 32, 33, 0xffff]),
            field("rate", fmt + 4, 4, false, &u32s),
            field("byte rate", fmt + 8, 4, false, &u32s),
            field("block align", fmt + 12, 2, false, &[0, 1, 3, 5, 0xffff]),
            field(
                "bits",
                fmt + 14,
                2,
                false,
                &[0, 1, 7, 8, 12, 24, 31, 32, 33, 64, 0xffff],
            ),
            field("data size", data_size, 4, false, &[0, 1, 3, 0xffff_ffff]),
            field(
                "chunk size",
                fmt - 4,
                4,
                false,
                &[0, 2, 14, 18, 0xffff_ffff],
            ),
        ];
        if name == "wav-s24" {
            // WAVE_FORMAT_EXTENSIBLE: extension size, valid bits, channel mask, sub-format.
            fields.push(field("cb size", fmt + 16, 2, false, &[0, 22, 0xffff]));
            fields.push(field("valid bits", fmt + 18, 2, false, &[0, 1, 32, 0xffff]));
            fields.push(field(
                "channel mask",
                fmt + 20,
                4,
                false,
                &[0, 1, u64::from(u32::MAX)],
            ));
            fields.push(field("sub-format", fmt + 24, 2, false, &[0, 3, 0xffff]));
        }
        seeds.push(Seed {
            name,
            ext: "wav",
            bytes,
            fields,
        });
    }

    // .au: magic, data offset, data size, encoding, rate, channels (big-endian words).
    let mut au = read("data/gtzan-mini/au-sample/blues.00000.au");
    let offset = u32::from_be_bytes([au[4], au[5], au[6], au[7]]) as usize;
    au.truncate(offset + 88_200);
    put(&mut au, 8, 4, true, 88_200);
    let u32s = [0, 1, 2, 3, 7_999, 768_001, 0x7fff_ffff, 0xffff_ffff];
    seeds.push(Seed {
        name: "au",
        ext: "au",
        bytes: au,
        fields: vec![
            field("offset", 4, 4, true, &[0, 23, 24, 25, 0xffff, 0xffff_ffff]),
            field("size", 8, 4, true, &u32s),
            field(
                "encoding",
                12,
                4,
                true,
                &[0, 1, 2, 3, 4, 5, 6, 7, 8, 23, 27, 0xffff_ffff],
            ),
            field("rate", 16, 4, true, &u32s),
            field(
                "channels",
                20,
                4,
                true,
                &[0, 1, 2, 3, 255, 65_536, 0xffff_ffff],
            ),
        ],
    });

    // MP3 with a LAME/Xing header (GTZAN) and with an ID3 tag and no gapless header
    // (bensound); Ogg Vorbis. The first tens of kB: tags, headers and some frames or pages.
    let mut mp3 = read("data/gtzan-mini/formats/rock.00001.mp3");
    mp3.truncate(40_000);
    let mut id3 = read("audio/bensound/bensound-cute.mp3");
    id3.truncate(60_000);
    let mut ogg = read("data/gtzan-mini/formats/rock.00001.ogg");
    ogg.truncate(40_000);
    // ID3v2: the 28-bit (syncsafe) tag size at 6; Ogg: page header fields of the first page.
    let id3_size = [0, 0x7f7f_7f7f, 0xffff_ffff];
    seeds.push(Seed {
        name: "mp3-lame",
        ext: "mp3",
        bytes: mp3,
        fields: vec![field(
            "frame header",
            0,
            4,
            true,
            &[0xfffb_0000, 0xffff_ffff, 0xffe0_0000],
        )],
    });
    seeds.push(Seed {
        name: "mp3-id3",
        ext: "mp3",
        bytes: id3,
        fields: vec![
            field("id3 size", 6, 4, true, &id3_size),
            field("id3 flags", 5, 1, true, &[0x40, 0x80, 0xff]),
        ],
    });
    seeds.push(Seed {
        name: "ogg",
        ext: "ogg",
        bytes: ogg,
        fields: vec![
            field("header type", 5, 1, true, &[0, 1, 4, 0xff]),
            field("granule", 6, 8, false, &[0, u64::MAX, 1 << 63]),
            field("page seq", 18, 4, false, &[1, 0xffff_ffff]),
            field("segments", 26, 1, true, &[0, 255]),
            field("segment 0", 27, 1, true, &[0, 255]),
            // The identification header: channels, rate, block sizes.
            field("vorbis channels", 39, 1, true, &[0, 1, 255]),
            field("vorbis rate", 40, 4, false, &[0, 1, 0xffff_ffff]),
            field("vorbis blocksizes", 56, 1, true, &[0x00, 0x66, 0xff, 0xdb]),
        ],
    });
    seeds
}

/// One way to damage a seed; applied only when its variant is decoded, so the few thousand
/// variants never sit in memory together.
enum Mutation {
    /// A named header field set to a value.
    Field(&'static str, usize, usize, bool, u64),
    /// Any word at an offset set to a value (width, big-endian).
    Word(usize, usize, bool, u64),
    Cut(usize),
    /// Bits flipped: (offset, mask).
    Flip(Vec<(usize, u8)>),
    /// A run overwritten with these bytes.
    Run(usize, Vec<u8>),
    /// `len` bytes copied from one offset to another (fake sync words, repeated headers).
    Copy {
        from: usize,
        to: usize,
        len: usize,
    },
}

impl std::fmt::Display for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field(name, _, _, _, v) => write!(f, "{name} = {v:#x}"),
            Self::Word(at, width, big, v) => {
                let order = if *big { "be" } else { "le" };
                write!(f, "{}-bit {order} word at {at} = {v:#x}", 8 * width)
            }
            Self::Cut(len) => write!(f, "cut to {len} bytes"),
            Self::Flip(flips) => write!(f, "bits flipped (offset, mask): {flips:x?}"),
            Self::Run(at, run) => write!(f, "{} bytes at {at} overwritten: {run:02x?}", run.len()),
            Self::Copy { from, to, len } => write!(f, "{len} bytes copied from {from} to {to}"),
        }
    }
}

impl Mutation {
    fn apply(&self, seed: &[u8]) -> Vec<u8> {
        let mut x = seed.to_vec();
        match self {
            Self::Field(_, at, width, big, v) | Self::Word(at, width, big, v) => {
                put(&mut x, *at, *width, *big, *v)
            }
            Self::Cut(len) => x.truncate(*len),
            Self::Flip(flips) => flips.iter().for_each(|&(at, bit)| x[at] ^= bit),
            Self::Run(at, run) => {
                let end = (at + run.len()).min(x.len());
                x[*at..end].copy_from_slice(&run[..end - at]);
            }
            Self::Copy { from, to, len } => {
                let len = (*len).min(x.len() - from).min(x.len() - to);
                x.copy_within(*from..*from + len, *to);
            }
        }
        x
    }
}

/// The mutations of one seed.
fn variants(seed: &Seed, rng: &mut Rng) -> Vec<Mutation> {
    let n = seed.bytes.len();
    let mut out = Vec::new();
    // Named header fields at their extremes.
    for f in &seed.fields {
        for &v in &f.values {
            out.push(Mutation::Field(f.name, f.at, f.width, f.big_endian, v));
        }
    }
    // Any 32-bit word of the first 64 bytes at 0 or 0xFFFFFFFF; 16-bit ones at 0x8000.
    for at in 0..64.min(n) {
        for v in [0, 0xffff_ffff] {
            out.push(Mutation::Word(at, 4, true, v));
        }
        if at % 2 == 0 {
            out.push(Mutation::Word(at, 2, true, 0x8000));
            out.push(Mutation::Word(at, 2, false, 0x8000));
        }
    }
    // Truncations: every length through the headers, then spread over the file.
    for len in 0..96.min(n) {
        out.push(Mutation::Cut(len));
    }
    for _ in 0..40 {
        out.push(Mutation::Cut(rng.below(n)));
    }
    // Bit flips: 1–4 bits, mostly in the first 4 kB (headers, first frames).
    for _ in 0..180 {
        let k = 1 + rng.below(4);
        let flips = (0..k)
            .map(|_| {
                let at = if rng.below(10) < 6 {
                    rng.below(n.min(4096))
                } else {
                    rng.below(n)
                };
                (at, 1u8 << rng.below(8))
            })
            .collect();
        out.push(Mutation::Flip(flips));
    }
    // Runs overwritten with 0x00, 0xFF or noise.
    for _ in 0..60 {
        let (at, len, kind) = (rng.below(n), 1 + rng.below(64), rng.below(3));
        let run = (0..len)
            .map(|_| [0, 0xff, rng.next_u64() as u8][kind])
            .collect();
        out.push(Mutation::Run(at, run));
    }
    for _ in 0..20 {
        let (from, to, len) = (rng.below(n), rng.below(n), 1 + rng.below(512));
        out.push(Mutation::Copy { from, to, len });
    }
    out
}

/// What went wrong with one variant.
struct Failure {
    variant: String,
    what: String,
}

/// Decode one variant every way; `None` when every result is acceptable.
fn check(seed: &Seed, bytes: &[u8], seed_seconds: f64) -> Option<String> {
    let path = Path::new("variant");
    let ok = |a: &Audio, how: &str| -> Option<String> {
        let rate = a.sample_rate();
        if !(MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&rate)
            || a.samples().is_empty()
            || a.samples().iter().any(|v| !v.is_finite())
            || a.source_channels() == 0
        {
            return Some(format!("{how}: invalid audio ({rate} Hz)"));
        }
        // A damaged header may stretch or shrink time, but not make a bomb of a 3 s file.
        (a.seconds() > 1000.0 * seed_seconds.max(1.0)).then(|| {
            format!(
                "{how}: {:.0} s from a {seed_seconds:.1} s file",
                a.seconds()
            )
        })
    };
    let err = |e: &mgr_core::Error, how: &str| -> Option<String> {
        let msg = e.to_string();
        (msg.is_empty() || msg.contains('\n')).then(|| format!("{how}: not one line: {msg:?}"))
    };
    let mut results = Vec::new();
    for hint in [Some(seed.ext), None] {
        let how = format!("decode_bytes({hint:?})");
        results.push(match decode_bytes(bytes.to_vec(), hint, path) {
            Ok(a) => ok(&a, &how),
            Err(e) => err(&e, &how),
        });
    }
    if seed.ext == "flac" {
        let sym = decode_bytes_symphonia(bytes.to_vec(), Some("flac"), path);
        results.push(match &sym {
            Ok(a) => ok(a, "symphonia"),
            Err(e) => err(e, "symphonia"),
        });
        // Whatever our own decoder accepts, symphonia decodes to the same bits.
        if let Some(own) = decode_flac_own(bytes) {
            results.push(ok(&own, "own FLAC"));
            let same = sym.as_ref().is_ok_and(|s| {
                s.sample_rate() == own.sample_rate()
                    && s.samples().len() == own.samples().len()
                    && s.samples()
                        .iter()
                        .zip(own.samples())
                        .all(|(a, b)| a.to_bits() == b.to_bits())
            });
            if !same {
                let sym_says = match &sym {
                    Ok(s) => format!("{} samples at {} Hz", s.samples().len(), s.sample_rate()),
                    Err(e) => e.to_string(),
                };
                results.push(Some(format!(
                    "own FLAC accepted it ({} samples), symphonia differs: {sym_says}",
                    own.samples().len()
                )));
            }
        }
    }
    results.into_iter().flatten().next()
}

#[test]
fn crafted_and_corrupt_audio_never_breaks_the_decoders() {
    // Every panic counts, also one that the library turns into an error (its guard around
    // symphonia): that guard is a last resort, not a way to pass this test.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.with(|p| p.set(p.get() + 1));
        default_hook(info);
    }));
    let trace = std::env::var_os("MGR_MUTATE_TRACE").is_some();
    // One variant alone, by the number a trace or a failure shows.
    let only: Option<usize> = std::env::var("MGR_MUTATE_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    let seeds = seeds();
    // A fixed seed: every run makes the same variants.
    let mut rng = Rng::new(0x6d67_725f_6d75_7461);
    let mut jobs = Vec::new();
    for (si, seed) in seeds.iter().enumerate() {
        let clean = decode_bytes(seed.bytes.clone(), Some(seed.ext), Path::new(seed.name))
            .unwrap_or_else(|e| panic!("seed {} does not decode: {e}", seed.name));
        let seconds = clean.seconds();
        if seed.ext == "flac" {
            assert!(
                decode_flac_own(&seed.bytes).is_some(),
                "own decoder declines the seed"
            );
        }
        for m in variants(seed, &mut rng) {
            jobs.push((si, seconds, m));
        }
    }
    let total = jobs.len();
    assert!(total >= 3000 || only.is_some(), "{total} variants");

    // Two threads; one of them also decodes every eighth variant from a file, as a stream
    // read through the file handle (what `classify` does), not from bytes in memory.
    let dir = scratch_dir("mutate");
    let started = Instant::now();
    let slowest = std::sync::Mutex::new((Duration::ZERO, String::new()));
    let finished = std::sync::atomic::AtomicBool::new(false);
    let failures: Vec<Failure> = std::thread::scope(|s| {
        let finished = &finished;
        s.spawn(move || {
            let (mut last, mut since) = (usize::MAX, Instant::now());
            while !finished.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let done = DONE.load(Relaxed);
                if done != last {
                    (last, since) = (done, Instant::now());
                } else if since.elapsed() > Duration::from_secs(HANG_SECONDS) {
                    let working: Vec<usize> = WORKING
                        .iter()
                        .filter_map(|w| w.load(Relaxed).checked_sub(1))
                        .collect();
                    eprintln!(
                        "mutate: no progress for {HANG_SECONDS} s; variants {working:?} hang"
                    );
                    std::process::exit(101);
                }
            }
        });
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (jobs, seeds, dir, slowest) = (&jobs, &seeds, &dir, &slowest);
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for (i, (si, seconds, mutation)) in jobs.iter().enumerate() {
                        if i % 2 != w || only.is_some_and(|o| o != i) {
                            continue;
                        }
                        let seed = &seeds[*si];
                        let name = format!("{} #{i}: {mutation}", seed.name);
                        let bytes = &mutation.apply(&seed.bytes);
                        if trace {
                            eprintln!("{name}");
                        }
                        CURRENT.with(|c| c.set(i));
                        WORKING[w].store(i + 1, Relaxed);
                        let t = Instant::now();
                        let result = catch_unwind(AssertUnwindSafe(|| {
                            let mut problem = check(seed, bytes, *seconds);
                            if w == 0 && i % 8 == 0 {
                                let file = dir.join(format!("v.{}", seed.ext));
                                std::fs::write(&file, bytes).expect("write variant");
                                if let Err(e) = decode_file(&file) {
                                    let msg = e.to_string();
                                    if msg.contains('\n') {
                                        problem =
                                            Some(format!("decode_file: not one line: {msg:?}"));
                                    }
                                }
                            }
                            problem
                        }));
                        let took = t.elapsed();
                        let panics = PANICS.with(|p| p.replace(0));
                        let mut worst = slowest.lock().unwrap_or_else(|e| e.into_inner());
                        if took > worst.0 {
                            *worst = (took, name.clone());
                        }
                        drop(worst);
                        let what = match result {
                            Err(panic) => Some(format!(
                                "panicked: {}",
                                panic
                                    .downcast_ref::<String>()
                                    .map(String::as_str)
                                    .or_else(|| panic.downcast_ref::<&str>().copied())
                                    .unwrap_or("?")
                            )),
                            Ok(p) => p,
                        }
                        .or_else(|| (panics > 0).then(|| "a panic was caught inside".into()))
                        .or_else(|| {
                            (took.as_secs_f64() > MAX_SECONDS)
                                .then(|| format!("took {:.1} s", took.as_secs_f64()))
                        });
                        DONE.fetch_add(1, Relaxed);
                        if let Some(what) = what {
                            failures.push(Failure {
                                variant: name,
                                what,
                            });
                        }
                    }
                    failures
                })
            })
            .collect();
        let failures = workers
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect();
        finished.store(true, Relaxed);
        failures
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (worst, worst_name) = slowest.into_inner().unwrap_or_else(|e| e.into_inner());
    let peak = PEAK.load(Relaxed);
    let refused = REFUSED.load(Relaxed);
    println!(
        "{total} variants of {} seeds in {:.1} s; slowest {:.0} ms ({worst_name}); peak live \
         {:.1} MB; largest refused request {refused} bytes; {} failures",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        worst.as_secs_f64() * 1e3,
        peak as f64 / 1e6,
        failures.len()
    );
    for f in failures.iter().take(40) {
        println!("  {}: {}", f.variant, f.what);
    }
    assert!(failures.is_empty(), "{} variants failed", failures.len());
    assert_eq!(refused, 0, "an allocation of {refused} bytes was asked for");
    assert!(peak <= MAX_LIVE, "{peak} bytes live at once");
}
