//! Decode throughput of our RESP codec (`chatd::cluster::resp`) against the `redis-protocol`
//! crate's RESP3 decoder, side by side in one run, on what a chatd node reads from Redis:
//! pub/sub push messages, 100-element arrays, and a 1 MiB reply arriving in 4 KiB reads.
//! Prints a Markdown table (docs/PERFORMANCE.md, "RESP codec").
//!
//!     cargo bench --bench resp_codec
//!
//! Each figure is the best of several rounds, ours and theirs alternating, so both see the
//! same machine state. Owned values on both sides (what the link hands on); the crate's
//! `decode_range` (offsets into the buffer, no copy) is shown for what zero-copy would save.

use chatd::cluster::resp::{self, Decoded, Extent, Step};
use redis_protocol::resp3::decode::complete as theirs;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

/// A RESP3 push of a published chat message (a ~120-byte payload, as a chat line is).
fn push_message() -> Vec<u8> {
    let channel = "chatd:room:lobby";
    let payload = "{\"room\":\"#lobby\",\"from\":\"alice\",\"id\":123456,\"time\":1733350000,\
\"text\":\"hello everyone, this is a typical chat line\"}";
    format!(
        ">3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
        channel.len(),
        payload.len()
    )
    .into_bytes()
}

/// An array of `count` bulk strings of `len` bytes (an LRANGE of history ids, say).
fn array(count: usize, len: usize) -> Vec<u8> {
    let item = vec![b'x'; len];
    let args: Vec<&[u8]> = (0..count).map(|_| item.as_slice()).collect();
    let mut out = Vec::new();
    resp::encode_command(&args, &mut out);
    out
}

/// Decodes every value in `buf` with `one` (the length of the value it decoded at the
/// start of its input, the value itself given to `black_box`); returns how many.
fn decode_all(buf: &[u8], one: impl Fn(&[u8]) -> Option<usize>) -> usize {
    let mut at = 0;
    let mut n = 0;
    while let Some(len) = one(&buf[at..]) {
        at += len;
        n += 1;
    }
    n
}

fn ours_all(buf: &[u8]) -> usize {
    decode_all(buf, |input| match resp::decode(input) {
        Ok(Decoded::Value(value, len)) => Some(black_box((value, len)).1),
        _ => None,
    })
}

fn theirs_all(buf: &[u8]) -> usize {
    decode_all(buf, |input| {
        theirs::decode(input)
            .ok()
            .flatten()
            .map(|(frame, len)| black_box((frame, len)).1)
    })
}

fn theirs_ranges_all(buf: &[u8]) -> usize {
    decode_all(buf, |input| {
        theirs::decode_range(input)
            .ok()
            .flatten()
            .map(|(frame, len)| black_box((frame, len)).1)
    })
}

/// A reply arriving in reads of `read` bytes, decoded as a shell would: tried after each
/// read. `as_the_link`: as `RedisLink` does, not before the buffer holds what the decoder
/// said it needs, and by a `Scanner` (resuming, building nothing) until whole. Returns the tries.
fn ours_incremental(reply: &[u8], read: usize, as_the_link: bool) -> usize {
    let mut need = 0;
    let mut scanner = resp::Scanner::default();
    let mut tries = 0;
    for end in (read..reply.len() + read).step_by(read) {
        let buf = &reply[..end.min(reply.len())];
        if as_the_link && buf.len() < need {
            continue;
        }
        tries += 1;
        if as_the_link && need > 0 {
            match scanner.scan(buf).expect("valid") {
                Extent::Need(n) => {
                    need = n;
                    continue;
                }
                Extent::Whole(_) => {}
            }
        }
        match resp::decode_step(buf).expect("valid") {
            Step::Need(n) => need = n,
            Step::Value(value, _) => {
                black_box(value);
                return tries;
            }
        }
    }
    panic!("never whole")
}

fn theirs_incremental(reply: &[u8], read: usize) -> usize {
    let mut tries = 0;
    for end in (read..reply.len() + read).step_by(read) {
        tries += 1;
        if let Some(frame) = theirs::decode(&reply[..end.min(reply.len())]).expect("valid") {
            black_box(frame);
            return tries;
        }
    }
    panic!("never whole")
}

/// Best time of [`ROUNDS`] for `f`, each round running it `reps` times.
fn best(reps: usize, mut f: impl FnMut() -> usize) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                black_box(f());
            }
            start.elapsed() / reps as u32
        })
        .min()
        .expect("rounds")
}

fn row(
    what: &str,
    bytes: usize,
    values: usize,
    ours: Duration,
    theirs: Duration,
    ranges: Option<Duration>,
) {
    let mbps = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let per = |d: Duration| d.as_nanos() as f64 / values as f64;
    let ranges = ranges.map_or("-".to_owned(), |d| {
        format!("{:.0} ns, {:.0} MB/s", per(d), mbps(d))
    });
    println!(
        "| {what} | {:.0} ns, {:.0} MB/s | {:.0} ns, {:.0} MB/s | {ranges} |",
        per(ours),
        mbps(ours),
        per(theirs),
        mbps(theirs),
    );
}

/// One row: `copies` of the value `one` back to back, decoded by each decoder.
fn compare(label: &str, one: &[u8], copies: usize) {
    let buf = one.repeat(copies);
    assert_eq!(ours_all(&buf), copies);
    assert_eq!(theirs_all(&buf), copies);
    let (mut o, mut t, mut r) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        o = o.min(best(5, || ours_all(&buf)));
        t = t.min(best(5, || theirs_all(&buf)));
        r = r.min(best(5, || theirs_ranges_all(&buf)));
    }
    row(label, buf.len(), copies, o, t, Some(r));
}

fn main() {
    println!(
        "| workload (per value) | ours (owned `Value`) | redis-protocol 6 `decode` (owned) | redis-protocol `decode_range` (no copy) |"
    );
    println!("| --- | --- | --- | --- |");

    let message = push_message();
    compare(
        &format!("pub/sub push message ({} B)", message.len()),
        &message,
        10_000,
    );
    for (count, len) in [(100, 16), (100, 200)] {
        let one = array(count, len);
        let label = format!(
            "{count}-element array of {len}-byte bulks ({} B)",
            one.len()
        );
        compare(&label, &one, 1_000);
    }

    // 1 MiB: 10,000 bulks of 100 bytes, read 4 KiB at a time.
    let big = array(10_000, 100);
    let read = 4096;
    let tries_hint = ours_incremental(&big, read, true);
    let tries_plain = ours_incremental(&big, read, false);
    let tries_theirs = theirs_incremental(&big, read);
    let (mut oh, mut op, mut t) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        oh = oh.min(best(1, || ours_incremental(&big, read, true)));
        op = op.min(best(1, || ours_incremental(&big, read, false)));
        t = t.min(best(1, || theirs_incremental(&big, read)));
    }
    row(
        &format!(
            "{} KiB reply in 4 KiB reads, ours parsing after every read ({tries_plain} parses)",
            big.len() >> 10
        ),
        big.len(),
        1,
        op,
        t,
        None,
    );
    row(
        &format!(
            "same, ours as the link reads: hint, resumed scan, one parse ({tries_hint} tries; theirs {tries_theirs})"
        ),
        big.len(),
        1,
        oh,
        t,
        None,
    );
}
