//! What symphonia is handed. symphonia 0.5 sizes some buffers from a file's length fields
//! before it checks them against the data (a Vorbis comment, an ID3v2 frame, a FLAC picture,
//! a RIFF `LIST` chunk: up to 4 GiB each), and a few header values make it panic (a WAV rate
//! of 0, a `WAVE_FORMAT_EXTENSIBLE` channel mask it cannot square with the channel count).
//! So the file is screened first, against what it actually holds, reading it forward in
//! bounded blocks (never the whole file):
//! - symphonia's probe scans for the first marker of a format it knows, anywhere in the
//!   file: screening starts where it would, and the bytes before are skipped;
//! - ID3v2 tags are skipped (leading ones for every decoder), and must lie inside the file;
//! - FLAC keeps STREAMINFO as its only metadata block ([`crate::flac::streaminfo_only`]);
//! - RIFF/WAVE is rebuilt from its `fmt ` and `data` chunks alone, with sizes that fit the
//!   file, a rate mgr accepts, and a channel mask of exactly its channel count;
//! - in Ogg, every comment and picture header (Vorbis, Opus, FLAC mappings) must fit its packet:
//!   the pages are checked in one pass through the file before symphonia reads any.
//!
//! The result is a [`Screened`] stream: the rebuilt header (if any) followed by the part of
//! the file the audio is decoded from, unchanged, so screened files decode to the same samples.
//! Where a header's length and the file disagree, the screening says so ([`Warning`]).

use std::collections::HashMap;
use std::path::Path;

use super::source::{Scan, Screened, Source};
use super::Warning;
use crate::error::{Error, IoError, Result};

fn corrupt(path: &Path, reason: &str) -> Error {
    Error::CorruptAudio {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::from(IoError::read(path)(e))
}

/// Where a file's audio starts, and who decodes it.
pub(super) enum Located {
    /// Sun/NeXT `.au` at this offset ([`super::au`]).
    Au(u64),
    /// FLAC at this offset: our decoder first ([`crate::flac`]), symphonia when it declines.
    Flac(u64),
    /// Anything else: symphonia, on the screened stream.
    Symphonia(Screened),
}

/// Find the audio in `src` and screen it: leading ID3v2 tags skipped, `.au` and FLAC left to
/// our decoders (unless `symphonia_only`), the rest screened for symphonia. Warnings about the
/// header go to `notes`.
pub(super) fn locate(
    src: &Source,
    path: &Path,
    symphonia_only: bool,
    notes: &mut Vec<Warning>,
) -> Result<Located> {
    let at = id3v2_len(src, 0, path)?;
    if at >= src.len() {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    if !symphonia_only {
        if src.starts_with(at, super::au::MAGIC) {
            return Ok(Located::Au(at));
        }
        if src.starts_with(at, b"fLaC") {
            return Ok(Located::Flac(at));
        }
    }
    for_symphonia(src, at, path, notes).map(Located::Symphonia)
}

/// Bytes of the ID3v2 tags at `at` (ID3v2.2–2.4: a 10-byte header with a 28-bit "syncsafe"
/// size, and a 10-byte footer when its flag is set); 0 when there are none.
pub(super) fn id3v2_len(src: &Source, at: u64, path: &Path) -> Result<u64> {
    let mut end = at;
    while src.starts_with(end, b"ID3") {
        let Some(h) = src.get(end, 10) else {
            return Err(corrupt(path, "truncated ID3v2 tag header"));
        };
        let syncsafe = h[6..10].iter().all(|&b| b < 0x80);
        if !(2..=4).contains(&h[3]) || !syncsafe {
            return Err(corrupt(path, "malformed ID3v2 tag header"));
        }
        let size = h[6..10].iter().fold(0u64, |a, &b| a << 7 | u64::from(b));
        let footer = if h[3] == 4 && h[5] & 0x10 != 0 { 10 } else { 0 };
        end += 10 + size + footer;
        if end > src.len() {
            return Err(corrupt(path, "ID3v2 tag runs past the end of the file"));
        }
    }
    Ok(end - at)
}

/// Where symphonia's probe would start reading, and as what: it scans for the first of its
/// formats' markers anywhere in the stream (junk before an MP3 is common), so the screening
/// must look where it will look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Id3,
    Flac,
    Riff,
    Ogg,
    /// An MPEG audio frame sync (layers 1–3, MPEG 1, 2, 2.5: symphonia's marker set).
    Mpeg,
}

/// The marker at the start of `b` (which holds at least 4 bytes, or all that is left).
fn marker(b: &[u8]) -> Option<Marker> {
    Some(if b.starts_with(b"ID3") {
        Marker::Id3
    } else if b.starts_with(b"fLaC") {
        Marker::Flac
    } else if b.starts_with(b"RIFF") {
        Marker::Riff
    } else if b.starts_with(b"OggS") {
        Marker::Ogg
    } else if b[0] == 0xff && matches!(b.get(1), Some(0xe2..=0xe7 | 0xf2..=0xf7 | 0xfa..=0xff)) {
        Marker::Mpeg
    } else {
        return None;
    })
}

/// The first position from `from` on where `found` sees a pattern of at most 4 bytes.
fn find_first<T>(
    src: &Source,
    from: u64,
    found: impl Fn(&[u8]) -> Option<T>,
) -> std::io::Result<Option<(u64, T)>> {
    find_in(&mut Scan::new(src, from), src.len(), from, found)
}

/// [`find_first`] through `scan` (positions from `from` on; the source is `len` bytes).
fn find_in<T>(
    scan: &mut Scan,
    len: u64,
    from: u64,
    found: impl Fn(&[u8]) -> Option<T>,
) -> std::io::Result<Option<(u64, T)>> {
    let mut pos = from;
    loop {
        let b = scan.at(pos, 4)?;
        if b.is_empty() {
            return Ok(None);
        }
        // Near the buffer's end a pattern may continue past it: look there after a refill,
        // unless the file ends there.
        let at_end = pos + b.len() as u64 >= len;
        let limit = if at_end { b.len() } else { b.len() - 3 };
        if let Some((i, t)) = (0..limit).find_map(|i| found(&b[i..]).map(|t| (i, t))) {
            return Ok(Some((pos + i as u64, t)));
        }
        pos += limit as u64;
    }
}

/// The stream symphonia decodes from: from the first marker its probe would find (ID3v2 tags
/// on the way skipped), rebuilt for FLAC and WAV, checked for Ogg.
pub(super) fn for_symphonia(
    src: &Source,
    from: u64,
    path: &Path,
    notes: &mut Vec<Warning>,
) -> Result<Screened> {
    let mut at = from;
    loop {
        let Some((p, marker)) = find_first(src, at, marker).map_err(io(path))? else {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: "no audio format recognised".into(),
            });
        };
        at = p;
        let rest =
            |head: Vec<u8>, start: u64| Screened::new(head, src.clone(), start, src.len() - start);
        return match marker {
            Marker::Id3 => {
                at += id3v2_len(src, at, path)?;
                continue;
            }
            Marker::Flac => {
                let (head, frames) =
                    crate::flac::streaminfo_only(src, at).map_err(|e| corrupt(path, e.0))?;
                Ok(rest(head, frames))
            }
            Marker::Riff if src.starts_with(at + 8, b"WAVE") => riff(src, at, path, notes),
            Marker::Riff => Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: "a RIFF file that is not WAVE".into(),
            }),
            Marker::Ogg => {
                ogg(src, at, path)?;
                Ok(rest(Vec::new(), at))
            }
            Marker::Mpeg => Ok(rest(Vec::new(), at)),
        };
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `WAVE_FORMAT_EXTENSIBLE`: the format tag whose `fmt ` carries a channel mask.
const EXTENSIBLE: u16 = 0xfffe;

/// Largest `fmt ` chunk taken (`WAVE_FORMAT_EXTENSIBLE`'s is 40 bytes): a longer one is not a
/// format description but a header field gone wrong.
const MAX_FMT: u64 = 1 << 16;

/// A data chunk size meaning "unknown" (a stream written before its length was known).
const UNKNOWN_SIZE: u64 = 0xffff_ffff;

/// A RIFF/WAVE file (its `RIFF` at `start`) as `RIFF` + `fmt ` + `data`, every size what the
/// file holds.
fn riff(src: &Source, start: u64, path: &Path, notes: &mut Vec<Warning>) -> Result<Screened> {
    let end = src.len();
    let mut fmt: Option<Vec<u8>> = None;
    let mut at = start + 12;
    let (data_at, data_len, claimed) = loop {
        let Some(h) = src.get(at, 8) else {
            return Err(corrupt(path, "WAV file without a data chunk"));
        };
        let size = u64::from(le32(&h, 4));
        let body = at + 8;
        if &h[..4] == b"data" {
            // Longer than the file: a truncated copy, or a streamed file's 0xFFFFFFFF.
            break (body, size.min(end - body), size);
        }
        if body + size > end {
            return Err(corrupt(path, "WAV chunk runs past the end of the file"));
        }
        if &h[..4] == b"fmt " && fmt.is_none() {
            if size > MAX_FMT {
                return Err(corrupt(path, "WAV fmt chunk is too long"));
            }
            fmt = Some(
                src.get(body, size as usize)
                    .ok_or_else(|| corrupt(path, "WAV chunk runs past the end of the file"))?,
            );
        }
        at = body + size + (size & 1);
    };
    let Some(mut fmt) = fmt else {
        return Err(corrupt(
            path,
            "WAV file without a fmt chunk before its data",
        ));
    };
    if fmt.len() < 16 {
        return Err(corrupt(path, "WAV fmt chunk too short"));
    }
    let (tag, channels, rate) = (le16(&fmt, 0), le16(&fmt, 2), le32(&fmt, 4));
    super::mono::check_rate(rate)?;
    if channels == 0 {
        return Err(corrupt(path, "WAV header says 0 channels"));
    }
    if tag == EXTENSIBLE && fmt.len() >= 24 {
        // Speaker positions do not matter to a mixdown; a mask that disagrees with the
        // channel count (which symphonia repairs with shifts that overflow) becomes the
        // first `channels` positions.
        if channels > 32 {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: format!("WAV with {channels} channels (at most 32)"),
            });
        }
        let mask = (((1u64 << channels) - 1) as u32).to_le_bytes();
        fmt[20..24].copy_from_slice(&mask);
    }
    // Seconds per byte of data, for what the header and the file say.
    let per_second = u64::from(le16(&fmt, 12)) * u64::from(rate);
    if per_second > 0 && claimed != UNKNOWN_SIZE {
        let seconds = |bytes: u64| bytes as f64 / per_second as f64;
        if claimed > data_len {
            notes.push(Warning::Shorter {
                header: seconds(claimed),
                file: seconds(data_len),
            });
        } else {
            let after = data_at + data_len + (data_len & 1);
            if after < end && !chunk_at(src, after) {
                notes.push(Warning::Ignored {
                    after: seconds(data_len),
                });
            }
        }
    }
    let pad = fmt.len() & 1;
    let riff_len = 4 + 8 + fmt.len() + pad + 8 + data_len as usize;
    let mut head = Vec::with_capacity(20 + fmt.len() + pad + 8);
    let u32_len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    head.extend_from_slice(b"RIFF");
    head.extend_from_slice(&u32_len(riff_len));
    head.extend_from_slice(b"WAVEfmt ");
    head.extend_from_slice(&u32_len(fmt.len()));
    head.extend_from_slice(&fmt);
    head.resize(head.len() + pad, 0);
    head.extend_from_slice(b"data");
    head.extend_from_slice(&u32_len(data_len as usize));
    Ok(Screened::new(head, src.clone(), data_at, data_len))
}

/// Whether a RIFF chunk header (a printable four-letter id and a size inside the file) is at
/// `at`: what may follow a WAV file's data chunk (`LIST`, `id3 `, …), as opposed to more audio.
fn chunk_at(src: &Source, at: u64) -> bool {
    src.get(at, 8).is_some_and(|h| {
        h[..4].iter().all(|b| (0x20..0x7f).contains(b))
            && at + 8 + u64::from(le32(&h, 4)) <= src.len()
    })
}

/// Header packets examined per logical stream (Vorbis has 3, Opus 2, FLAC-in-Ogg 1 plus
/// one per metadata block; audio packets come after them).
const HEADER_PACKETS: usize = 16;

/// Logical streams tracked at most: a chained file (one link per song of a radio recording)
/// has one per link; a file with more is refused rather than tracked without bound.
const MAX_STREAMS: usize = 1 << 16;

/// One Ogg logical stream's first packets, as they are reassembled.
#[derive(Default)]
struct Stream {
    /// Packets completed so far.
    packets: usize,
    /// The packet being reassembled (only while `packets < HEADER_PACKETS`).
    partial: Vec<u8>,
    /// The first packet started `\x7fFLAC`: later header packets are FLAC metadata blocks.
    flac: bool,
}

/// Every comment or picture header in the first packets of each Ogg logical stream (from
/// `start` on) must fit its packet. Pages are found by their capture pattern (as a reader
/// resyncs), so damage between pages does not hide a header from the check.
fn ogg(src: &Source, start: u64, path: &Path) -> Result<()> {
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    let mut scan = Scan::new(src, start);
    let mut at = start;
    let capture = |b: &[u8]| b.starts_with(b"OggS").then_some(());
    while let Some((page, ())) = find_in(&mut scan, src.len(), at, capture).map_err(io(path))? {
        // 27 header bytes, up to 255 lacing values.
        let b = scan.at(page, 27 + 255).map_err(io(path))?;
        if b.len() < 27 || b.len() < 27 + usize::from(b[26]) {
            break;
        }
        let (version, serial, segments) = (b[4], le32(b, 14), usize::from(b[26]));
        let lacing = b[27..27 + segments].to_vec();
        let body_len: u64 = lacing.iter().map(|&l| u64::from(l)).sum();
        let body_at = page + 27 + segments as u64;
        if version != 0 || body_at + body_len > src.len() {
            at = page + 1; // not a page after all, or a cut one
            continue;
        }
        if !streams.contains_key(&serial) && streams.len() >= MAX_STREAMS {
            return Err(corrupt(path, "an Ogg file with too many logical streams"));
        }
        let stream = streams.entry(serial).or_default();
        if stream.packets < HEADER_PACKETS {
            let body = scan.at(body_at, body_len as usize).map_err(io(path))?;
            read_packets(stream, &lacing, &body[..body_len as usize], path)?;
        }
        at = body_at + body_len;
    }
    Ok(())
}

/// The packets one page of `stream` completes, each header packet checked.
fn read_packets(stream: &mut Stream, lacing: &[u8], body: &[u8], path: &Path) -> Result<()> {
    let mut pos = 0;
    for &l in lacing {
        let l = usize::from(l);
        if stream.packets < HEADER_PACKETS {
            stream.partial.extend_from_slice(&body[pos..pos + l]);
        }
        pos += l;
        if l < 255 {
            if stream.packets < HEADER_PACKETS {
                let packet = std::mem::take(&mut stream.partial);
                if stream.packets == 0 {
                    stream.flac = packet.starts_with(b"\x7fFLAC");
                }
                if !header_fits(&packet, stream.flac && stream.packets > 0) {
                    return Err(corrupt(
                        path,
                        "an Ogg comment or picture header is longer than its packet",
                    ));
                }
            }
            stream.packets += 1;
        }
    }
    Ok(())
}

/// A Vorbis comment (`\x03vorbis`), Opus tags (`OpusTags`) or, in a FLAC mapping, a
/// metadata block (comment or picture) whose lengths fit the packet; other packets pass.
fn header_fits(packet: &[u8], flac_metadata: bool) -> bool {
    if flac_metadata {
        return match packet.first().map(|b| b & 0x7f) {
            Some(4) => packet.get(4..).is_some_and(comment_fits),
            Some(6) => packet.get(4..).is_some_and(picture_fits),
            _ => true,
        };
    }
    if let Some(c) = packet.strip_prefix(b"\x03vorbis") {
        return comment_fits(c);
    }
    if let Some(c) = packet.strip_prefix(b"OpusTags") {
        return comment_fits(c);
    }
    true
}

/// Reads length-prefixed fields and says whether each fits what is left.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn word(&mut self, big_endian: bool) -> Option<usize> {
        let (w, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(if big_endian {
            u32::from_be_bytes(*w)
        } else {
            u32::from_le_bytes(*w)
        } as usize)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }
}

/// A Vorbis comment block: vendor string, count, then that many strings, all little-endian
/// length-prefixed (the Ogg Vorbis I specification, section 5).
fn comment_fits(b: &[u8]) -> bool {
    let mut f = Fields(b);
    let mut check = || -> Option<()> {
        let vendor = f.word(false)?;
        f.skip(vendor)?;
        let count = f.word(false)?;
        // Each comment needs at least its 4-byte length.
        if count > f.0.len() / 4 {
            return None;
        }
        for _ in 0..count {
            let len = f.word(false)?;
            f.skip(len)?;
        }
        Some(())
    };
    check().is_some()
}

/// A FLAC picture block (RFC 9639 8.8): type, MIME string, description, four numbers, data;
/// big-endian lengths.
fn picture_fits(b: &[u8]) -> bool {
    let mut f = Fields(b);
    let mut check = || -> Option<()> {
        f.skip(4)?;
        let mime = f.word(true)?;
        f.skip(mime)?;
        let description = f.word(true)?;
        f.skip(description)?;
        f.skip(16)?;
        let data = f.word(true)?;
        f.skip(data)
    };
    check().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_and_picture_lengths() {
        let mut c = Vec::new();
        c.extend(3u32.to_le_bytes());
        c.extend(b"mgr");
        c.extend(1u32.to_le_bytes());
        c.extend(5u32.to_le_bytes());
        c.extend(b"A=bcd");
        assert!(comment_fits(&c));
        assert!(!comment_fits(&c[..c.len() - 1]));
        let mut huge = c.clone();
        huge[7..11].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!comment_fits(&huge));
        let mut p = vec![0, 0, 0, 3];
        p.extend(2u32.to_be_bytes());
        p.extend(b"ab");
        p.extend(0u32.to_be_bytes());
        p.extend([0; 16]);
        p.extend(1u32.to_be_bytes());
        p.push(9);
        assert!(picture_fits(&p));
        assert!(!picture_fits(&p[..p.len() - 1]));
    }

    #[test]
    fn id3v2_tags_are_measured_and_must_fit() {
        let path = Path::new("t.mp3");
        let len = |b: &[u8]| id3v2_len(&Source::bytes(b.to_vec()), 0, path);
        // A cut header is an error, not a zero-length tag (the screening would loop on it).
        assert!(len(b"ID3\x04").is_err());
        let src = Source::bytes(b"ID3\x04".to_vec());
        assert!(for_symphonia(&src, 0, path, &mut Vec::new()).is_err());
        let mut b = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec();
        b.extend([0; 128]);
        b.extend(b"\xff\xfb");
        assert_eq!(len(&b).unwrap(), 10 + 128);
        assert_eq!(len(b"\xff\xfb\x90").unwrap(), 0);
        b[8] = 0x7f;
        assert!(len(&b).is_err());
        b[8] = 0x80;
        assert!(len(&b).is_err());
    }
}
