//! What symphonia is handed. symphonia 0.5 sizes some buffers from a file's length fields
//! before it checks them against the data (a Vorbis comment, an ID3v2 frame, a FLAC picture,
//! a RIFF `LIST` chunk: up to 4 GiB each), and a few header values make it panic (a WAV rate
//! of 0, a `WAVE_FORMAT_EXTENSIBLE` channel mask it cannot square with the channel count).
//! So the bytes are screened first, against what the file actually holds:
//! - symphonia's probe scans for the first marker of a format it knows, anywhere in the
//!   file: screening starts where it would, and the bytes before are dropped;
//! - ID3v2 tags are dropped (leading ones for every decoder), and must lie inside the file;
//! - FLAC keeps STREAMINFO as its only metadata block ([`crate::flac::streaminfo_only`]);
//! - RIFF/WAVE is rebuilt from its `fmt ` and `data` chunks alone, with sizes that fit the
//!   file, a rate mgr accepts, and a channel mask of exactly its channel count;
//! - in Ogg, every comment and picture header (Vorbis, Opus, FLAC mappings) must fit its packet.
//!
//! Nothing the audio is decoded from changes, so screened files decode to the same samples.

use std::path::Path;

use crate::error::{Error, Result};

fn corrupt(path: &Path, reason: &str) -> Error {
    Error::CorruptAudio {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Bytes of the leading ID3v2 tags (ID3v2.2–2.4: a 10-byte header with a 28-bit
/// "syncsafe" size, and a 10-byte footer when its flag is set); 0 when there are none.
pub(super) fn id3v2_len(bytes: &[u8], path: &Path) -> Result<usize> {
    let mut at = 0;
    while bytes[at..].starts_with(b"ID3") {
        let Some(h) = bytes.get(at..at + 10) else {
            return Err(corrupt(path, "truncated ID3v2 tag header"));
        };
        let syncsafe = h[6..10].iter().all(|&b| b < 0x80);
        if !(2..=4).contains(&h[3]) || !syncsafe {
            return Err(corrupt(path, "malformed ID3v2 tag header"));
        }
        let size = h[6..10]
            .iter()
            .fold(0usize, |a, &b| a << 7 | usize::from(b));
        let footer = if h[3] == 4 && h[5] & 0x10 != 0 { 10 } else { 0 };
        at += 10 + size + footer;
        if at > bytes.len() {
            return Err(corrupt(path, "ID3v2 tag runs past the end of the file"));
        }
    }
    Ok(at)
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

fn first_marker(bytes: &[u8]) -> Option<(usize, Marker)> {
    (0..bytes.len()).find_map(|p| {
        let b = &bytes[p..];
        let m = if b.starts_with(b"ID3") {
            Marker::Id3
        } else if b.starts_with(b"fLaC") {
            Marker::Flac
        } else if b.starts_with(b"RIFF") {
            Marker::Riff
        } else if b.starts_with(b"OggS") {
            Marker::Ogg
        } else if b[0] == 0xff && matches!(b.get(1), Some(0xe2..=0xe7 | 0xf2..=0xf7 | 0xfa..=0xff))
        {
            Marker::Mpeg
        } else {
            return None;
        };
        Some((p, m))
    })
}

/// The bytes symphonia decodes from: from the first marker its probe would find (ID3v2 tags
/// on the way dropped), rebuilt for FLAC and WAV, checked for Ogg.
pub(super) fn for_symphonia(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    let mut at = 0;
    loop {
        let Some((p, marker)) = first_marker(&bytes[at..]) else {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: "no audio format recognised".into(),
            });
        };
        at += p;
        let rest = &bytes[at..];
        return match marker {
            Marker::Id3 => {
                at += id3v2_len(rest, path)?;
                continue;
            }
            Marker::Flac => crate::flac::streaminfo_only(rest).map_err(|e| corrupt(path, e.0)),
            Marker::Riff if rest.get(8..12) == Some(b"WAVE") => riff(rest, path),
            Marker::Riff => Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: "a RIFF file that is not WAVE".into(),
            }),
            Marker::Ogg => {
                ogg(rest, path)?;
                bytes.drain(..at);
                Ok(bytes)
            }
            Marker::Mpeg => {
                bytes.drain(..at);
                Ok(bytes)
            }
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

/// A RIFF/WAVE file as `RIFF` + `fmt ` + `data`, every size what the file holds.
fn riff(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    let mut fmt: Option<Vec<u8>> = None;
    let mut at = 12;
    let data = loop {
        let Some(h) = bytes.get(at..at + 8) else {
            return Err(corrupt(path, "WAV file without a data chunk"));
        };
        let size = le32(h, 4) as usize;
        let body = at + 8;
        if &h[..4] == b"data" {
            // Longer than the file: a truncated copy, or a streamed file's 0xFFFFFFFF.
            break &bytes[body..(body.saturating_add(size)).min(bytes.len())];
        }
        let Some(content) = bytes.get(body..body.saturating_add(size)) else {
            return Err(corrupt(path, "WAV chunk runs past the end of the file"));
        };
        if &h[..4] == b"fmt " && fmt.is_none() {
            fmt = Some(content.to_vec());
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
    let pad = fmt.len() & 1;
    let riff_len = 4 + 8 + fmt.len() + pad + 8 + data.len();
    let mut out = Vec::new();
    out.try_reserve_exact(8 + riff_len)
        .map_err(|_| Error::TooLong {
            path: path.to_path_buf(),
            reason: format!("cannot allocate {} bytes", 8 + riff_len),
        })?;
    let u32_len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32_len(riff_len));
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&u32_len(fmt.len()));
    out.extend_from_slice(&fmt);
    out.resize(out.len() + pad, 0);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&u32_len(data.len()));
    out.extend_from_slice(data);
    Ok(out)
}

/// Header packets examined per logical stream (Vorbis has 3, Opus 2, FLAC-in-Ogg 1 plus
/// one per metadata block; audio packets come after them).
const HEADER_PACKETS: usize = 16;

/// One Ogg logical stream's first packets, as they are reassembled.
struct Stream {
    serial: u32,
    /// Packets completed so far.
    packets: usize,
    /// The packet being reassembled (only while `packets < HEADER_PACKETS`).
    partial: Vec<u8>,
    /// The first packet started `\x7fFLAC`: later header packets are FLAC metadata blocks.
    flac: bool,
}

/// Every comment or picture header in the first packets of each Ogg logical stream must fit
/// its packet. Pages are found by their capture pattern (as a reader resyncs), so damage
/// between pages does not hide a header from the check.
fn ogg(bytes: &[u8], path: &Path) -> Result<()> {
    let mut streams: Vec<Stream> = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], b"OggS") {
        let page = at + found;
        let Some(h) = bytes.get(page..page + 27) else {
            break;
        };
        let segments = usize::from(h[26]);
        let Some(lacing) = bytes.get(page + 27..page + 27 + segments) else {
            break;
        };
        let serial = le32(h, 14);
        let mut body = page + 27 + segments;
        if h[4] != 0 || body + lacing.iter().map(|&l| usize::from(l)).sum::<usize>() > bytes.len() {
            at = page + 1; // not a page after all, or a cut one
            continue;
        }
        let stream = match streams.iter().position(|s| s.serial == serial) {
            Some(i) => &mut streams[i],
            None => {
                streams.push(Stream {
                    serial,
                    packets: 0,
                    partial: Vec::new(),
                    flac: false,
                });
                streams.last_mut().expect("just pushed")
            }
        };
        for &l in lacing {
            let l = usize::from(l);
            if stream.packets < HEADER_PACKETS {
                stream.partial.extend_from_slice(&bytes[body..body + l]);
            }
            body += l;
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
        at = body;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
        // A cut header is an error, not a zero-length tag (the screening would loop on it).
        assert!(id3v2_len(b"ID3\x04", path).is_err());
        assert!(for_symphonia(b"ID3\x04".to_vec(), path).is_err());
        let mut b = b"ID3\x04\x00\x00\x00\x00\x01\x00".to_vec();
        b.extend([0; 128]);
        b.extend(b"\xff\xfb");
        assert_eq!(id3v2_len(&b, path).unwrap(), 10 + 128);
        assert_eq!(id3v2_len(b"\xff\xfb\x90", path).unwrap(), 0);
        b[8] = 0x7f;
        assert!(id3v2_len(&b, path).is_err());
        b[8] = 0x80;
        assert!(id3v2_len(&b, path).is_err());
    }
}
