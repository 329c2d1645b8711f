//! What was odd about a file that still decoded: a header whose length disagrees with the
//! data, a damaged or cut tail, skipped packets, a sample rate that changes part-way, a
//! recording that is digital silence. Each is one line for the user; the audio it describes is
//! what decoded.

/// Something about a file's audio that the user should know, though it was analysed.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// The header announces more audio than the file holds (a cut copy, an unfinished
    /// download): the audio is what the file holds.
    Shorter {
        /// Seconds the header announces.
        header: f64,
        /// Seconds that decoded.
        file: f64,
    },
    /// More data follows the end of the audio the header announces; it was not decoded.
    Ignored {
        /// Seconds decoded, where the announced audio ends.
        after: f64,
    },
    /// Packets after the announced end decoded to nothing (a gapless header's length cut
    /// them): they were left out.
    Unannounced {
        /// Packets left out.
        packets: usize,
        /// Seconds decoded, where the announced audio ends.
        after: f64,
    },
    /// The stream is damaged from `at` on; the audio is what decoded before.
    Damaged {
        /// Seconds decoded before the damage.
        at: f64,
        /// The decoder's words.
        reason: String,
    },
    /// Packets that would not decode were skipped.
    Skipped {
        /// Packets skipped.
        packets: usize,
    },
    /// The sample rate changes at `at`: the audio ends there (one recording, one rate).
    RateChange {
        /// Seconds decoded at the first rate.
        at: f64,
        /// The first rate (Hz).
        from: u32,
        /// The rate the stream changes to (Hz).
        to: u32,
    },
    /// Every sample is zero (digital silence): the genre it was given means nothing.
    DigitalSilence,
}

/// Seconds as `H:MM:SS`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shorter { header, file } => write!(
                f,
                "the header announces {} of audio, the file holds {}: it ends early",
                clock(*header),
                clock(*file)
            ),
            Self::Ignored { after } => write!(
                f,
                "data after the end the header announces ({}) was ignored",
                clock(*after)
            ),
            Self::Unannounced { packets, after } => write!(
                f,
                "{packets} packets after the announced end ({}) were left out",
                clock(*after)
            ),
            Self::Damaged { at, reason } => write!(
                f,
                "the stream is damaged at {} ({}); the audio before it was used",
                clock(*at),
                reason.replace('\n', " ")
            ),
            Self::Skipped { packets } => {
                write!(f, "{packets} packets could not be decoded and were skipped")
            }
            Self::RateChange { at, from, to } => write!(
                f,
                "the sample rate changes from {from} to {to} Hz at {}; the audio after it was left out",
                clock(*at)
            ),
            Self::DigitalSilence => write!(f, "the recording is silent (every sample is zero)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_one_line_with_clock_times() {
        let w = Warning::Shorter {
            header: 36_000.0,
            file: 10.4,
        };
        assert_eq!(
            w.to_string(),
            "the header announces 10:00:00 of audio, the file holds 0:00:10: it ends early"
        );
        let w = Warning::Damaged {
            at: 3_725.0,
            reason: "bad\npage".into(),
        };
        assert!(!w.to_string().contains('\n'));
        assert!(w.to_string().contains("1:02:05"));
    }
}
