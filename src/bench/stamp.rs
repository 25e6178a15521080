//! The stamp at the start of every benchmark message text: who sent it, its sequence number
//! and when it was sent, as fixed-width ASCII so it is valid UTF-8 and cheap to parse.

/// Bytes of an encoded stamp: `SSSSSS:QQQQQQQQQQ:TTTTTTTTTTTTTTTT` (sender, sequence, send
/// time in nanoseconds since the benchmark's start, all decimal).
pub const STAMP_LEN: usize = 6 + 1 + 10 + 1 + 16;

const SENDER_DIGITS: usize = 6;
const SEQ_DIGITS: usize = 10;
const TIME_DIGITS: usize = 16;

/// What a receiver learns from a message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sending client (below 1,000,000).
    pub sender: u32,
    /// The sender's sequence number, from 0, per destination stream.
    pub seq: u32,
    /// Send time, nanoseconds since the shared start instant (below 10^16, 115 days).
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp then pads with `.` up to `text_len` bytes (at least [`STAMP_LEN`]).
    pub fn encode(&self, text_len: usize, out: &mut Vec<u8>) {
        put_digits(out, u64::from(self.sender), SENDER_DIGITS);
        out.push(b':');
        put_digits(out, u64::from(self.seq), SEQ_DIGITS);
        out.push(b':');
        put_digits(out, self.sent_ns, TIME_DIGITS);
        out.resize(out.len() + text_len.saturating_sub(STAMP_LEN), b'.');
    }

    /// Reads the stamp at the start of `text`; `None` if it is not one.
    pub fn decode(text: &[u8]) -> Option<Stamp> {
        let text = text.get(..STAMP_LEN)?;
        let (sender, rest) = text.split_at(SENDER_DIGITS);
        let (seq, rest) = rest[1..].split_at(SEQ_DIGITS);
        let time = &rest[1..];
        if text[SENDER_DIGITS] != b':' || rest[0] != b':' {
            return None;
        }
        Some(Stamp {
            sender: u32::try_from(digits(sender)?).ok()?,
            seq: u32::try_from(digits(seq)?).ok()?,
            sent_ns: digits(time)?,
        })
    }
}

fn put_digits(out: &mut Vec<u8>, mut value: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn digits(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_round_trips_and_pads_to_the_text_length() {
        let stamp = Stamp {
            sender: 42,
            seq: 4_000_000_000,
            sent_ns: 1_234_567_890_123,
        };
        let mut text = Vec::new();
        stamp.encode(64, &mut text);
        assert_eq!(text.len(), 64);
        assert_eq!(&text[..STAMP_LEN], b"000042:4000000000:0001234567890123");
        assert_eq!(Stamp::decode(&text), Some(stamp));
    }

    #[test]
    fn short_text_keeps_the_whole_stamp() {
        let mut text = Vec::new();
        Stamp {
            sender: 1,
            seq: 2,
            sent_ns: 3,
        }
        .encode(4, &mut text);
        assert_eq!(text.len(), STAMP_LEN);
    }

    #[test]
    fn garbage_is_no_stamp() {
        assert_eq!(Stamp::decode(b"hello"), None);
        assert_eq!(Stamp::decode(&[b'x'; STAMP_LEN]), None);
        let mut text = Vec::new();
        Stamp {
            sender: 1,
            seq: 2,
            sent_ns: 3,
        }
        .encode(0, &mut text);
        text[6] = b'-';
        assert_eq!(Stamp::decode(&text), None);
    }
}
