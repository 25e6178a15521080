//! RESP, the Redis serialization protocol: commands out (arrays of bulk strings), values in.
//! Reads RESP3 (what a connection that said `HELLO 3` hears) and therefore RESP2, whose
//! replies are a subset. Pure: bytes in, values out; no socket, no clock.
//!
//! Decoding is in one pass that either builds a whole [`Value`] or stops at the first byte
//! that has not arrived. Needing more bytes is a normal outcome, not an error. Every length,
//! count and nesting level is bounded before anything is buffered or allocated for it, so a
//! hostile or broken server ends its connection with a [`RespError`], not with our memory.
//!
//! A value that arrives in many small reads would be parsed again from its start after each
//! read; [`decode_step`] also says how many bytes the buffer must hold before a retry can
//! succeed (exact for a long bulk string, a lower bound for a long aggregate), so the caller
//! retries only then; and a [`Scanner`] finds where it ends without building anything,
//! resuming where it stopped, so a big reply in small reads costs one scan of its bytes and
//! one parse once it is whole, not a parse per read.
//!
//! Not read: RESP3's streamed strings and aggregates (`$?`, `*?`), which Redis never sends.
//! Attributes (`|`) are read and dropped: the value after one is the value decoded.

use std::fmt;

/// Longest bulk, verbatim or blob error string accepted (Redis's own bound is 512 MiB; we
/// store nothing that large and a reply that size would stall the reactor).
pub const MAX_BULK_LEN: usize = 16 << 20;
/// Most bytes one whole value may span, nested elements included; what a reader must be
/// prepared to buffer.
pub const MAX_VALUE_LEN: usize = 32 << 20;
/// Most elements one aggregate may announce (a map announces pairs and holds twice as many).
pub const MAX_ELEMENTS: usize = 1 << 20;
/// Deepest nesting of aggregates (a HELLO reply nests two levels, CLUSTER SHARDS four).
pub const MAX_DEPTH: usize = 16;
/// Longest line (simple string, error, number) looked through for its CRLF before giving up.
pub const MAX_LINE_LEN: usize = 64 << 10;
/// The shortest a value can be (`_\r\n`): the least an announced element still needs.
const MIN_VALUE_LEN: usize = 3;

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+`: a short status text such as `OK` (not UTF-8 bytes are replaced).
    Simple(String),
    /// `-` or `!`: an error reply's text, such as `ERR unknown command` (lossy UTF-8).
    Error(String),
    /// `:`
    Integer(i64),
    /// `$`: binary-safe bytes.
    Bulk(Vec<u8>),
    /// `*`
    Array(Vec<Value>),
    /// `%`: key-value pairs in the order received.
    Map(Vec<(Value, Value)>),
    /// `~`
    Set(Vec<Value>),
    /// `>`: out-of-band data (pub/sub messages, subscription confirmations, invalidations);
    /// never the reply to a command.
    Push(Vec<Value>),
    /// `_`, and RESP2's null bulk string (`$-1`) and null array (`*-1`).
    Null,
    /// `#t` or `#f`
    Boolean(bool),
    /// `,` (including `inf`, `-inf` and `nan`)
    Double(f64),
    /// `=`: the text without its three-letter format and colon (`txt:`, `mkd:`).
    Verbatim(Vec<u8>),
    /// `(`: the digits, with a leading `-` if negative.
    BigNumber(String),
}

impl Value {
    /// The bytes of a bulk, simple or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(bytes) | Value::Verbatim(bytes) => Some(bytes),
            Value::Simple(text) => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// An integer's value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array, set or push.
    pub fn into_array(self) -> Option<Vec<Value>> {
        match self {
            Value::Array(items) | Value::Set(items) | Value::Push(items) => Some(items),
            _ => None,
        }
    }
}

/// Outcome of [`decode`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// The value at the start of the input is not complete yet.
    Incomplete,
    /// A whole value and the number of bytes it took from the start of the input.
    Value(Value, usize),
}

/// Outcome of [`decode_step`]: [`Decoded`] with a hint for the incomplete case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Incomplete: no retry can succeed before the input holds at least this many bytes.
    Need(usize),
    /// A whole value and the number of bytes it took.
    Value(Value, usize),
}

/// Input that is not RESP we accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A type byte RESP does not define (or a streamed type, which we do not read).
    UnknownType(u8),
    /// A length, integer, double, big number or boolean that is not one.
    BadNumber,
    /// A bulk string over [`MAX_BULK_LEN`], or an aggregate announcing over [`MAX_ELEMENTS`].
    TooLarge { len: i64 },
    /// A value spanning more than [`MAX_VALUE_LEN`] bytes.
    ValueTooLarge { len: usize },
    /// A line without its CRLF within [`MAX_LINE_LEN`] bytes, a CR not followed by LF, or a
    /// string not followed by CRLF.
    BadLine,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A verbatim string without its `xxx:` format prefix.
    BadVerbatim,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(t) => write!(f, "unknown RESP type byte 0x{t:02x}"),
            RespError::BadNumber => write!(f, "malformed RESP number, double or boolean"),
            RespError::TooLarge { len } => {
                write!(f, "RESP length {len} over the bound")
            }
            RespError::ValueTooLarge { len } => {
                write!(f, "RESP value of at least {len} bytes over {MAX_VALUE_LEN}")
            }
            RespError::BadLine => write!(f, "RESP line not ended by CRLF"),
            RespError::TooDeep => write!(f, "RESP aggregates nested deeper than {MAX_DEPTH}"),
            RespError::BadVerbatim => write!(f, "RESP verbatim string without its format"),
        }
    }
}

impl std::error::Error for RespError {}

/// Appends a command (`args[0]` the command name) as RESP: an array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.reserve(encoded_command_len(args));
    out.push(b'*');
    put_decimal(out, args.len());
    for arg in args {
        out.push(b'$');
        put_decimal(out, arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// How many bytes [`encode_command`] appends for `args`.
pub fn encoded_command_len(args: &[&[u8]]) -> usize {
    let header = |n: usize| 1 + decimal_len(n) + 2;
    header(args.len())
        + args
            .iter()
            .map(|arg| header(arg.len()) + arg.len() + 2)
            .sum::<usize>()
}

/// Appends `n` in decimal and CRLF.
fn put_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
    out.extend_from_slice(b"\r\n");
}

fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Reads the value at the start of `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, RespError> {
    Ok(match decode_step(buf)? {
        Step::Need(_) => Decoded::Incomplete,
        Step::Value(value, len) => Decoded::Value(value, len),
    })
}

/// How much of a value is at the start of the input, as [`Scanner::scan`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extent {
    /// A whole value of this many bytes.
    Whole(usize),
    /// Incomplete: no retry can succeed before the input holds at least this many bytes.
    Need(usize),
}

/// Reads the value at the start of `buf`, or says how long `buf` must grow before trying
/// again is worth it.
pub fn decode_step(buf: &[u8]) -> Result<Step, RespError> {
    let step = value(buf, 0, 0)?;
    match step {
        Step::Need(len) | Step::Value(_, len) => within_bound(len)?,
    }
    Ok(step)
}

/// Checks the value at the start of `buf` as [`decode_step`] does, building nothing.
pub fn extent(buf: &[u8]) -> Result<Extent, RespError> {
    Scanner::default().scan(buf)
}

fn within_bound(len: usize) -> Result<(), RespError> {
    if len > MAX_VALUE_LEN {
        return Err(RespError::ValueTooLarge { len });
    }
    Ok(())
}

/// Finds where the value at the start of an input ends, across calls that each see the
/// input grown at its end, resuming where the last call stopped: a value arriving in many
/// reads has each byte looked at once, and nothing is built. The same checks and hints as
/// [`decode_step`].
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    /// Offset of the next header to read.
    at: usize,
    /// How many values each open level still expects, outermost first; empty between values.
    expected: Vec<usize>,
}

impl Scanner {
    /// Scans on through `buf`: the input of the last call (if it returned `Need`) with more
    /// bytes at its end. After `Whole` or an error the next call starts a new value.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Extent, RespError> {
        let result = self.scan_on(buf);
        if !matches!(result, Ok(Extent::Need(_))) {
            self.at = 0;
            self.expected.clear();
        }
        result
    }

    fn scan_on(&mut self, buf: &[u8]) -> Result<Extent, RespError> {
        if self.expected.is_empty() {
            self.at = 0;
            self.expected.push(1);
        }
        loop {
            while self.expected.last() == Some(&0) {
                self.expected.pop();
            }
            let Some(&expected_here) = self.expected.last() else {
                return Ok(Extent::Whole(self.at));
            };
            let depth = self.expected.len() - 1;
            // What the values after this one need at least, as `aggregate` counts it.
            let after = (self.expected.iter().sum::<usize>() - 1) * MIN_VALUE_LEN;
            let need = |need: usize| {
                within_bound(need + after)?;
                Ok(Extent::Need(need + after))
            };
            let (kind, line, next) = match line(buf, self.at)? {
                Ok(header) => header,
                Err(at_least) => return need(at_least),
            };
            let shape = shape(kind, line)?;
            if matches!(shape, Shape::Aggregate(_) | Shape::Attribute(_)) && depth >= MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            self.at = match shape {
                Shape::Blob(len) => match blob(buf, kind, next, len)? {
                    Ok(_) => next + len + 2,
                    Err(at_least) => return need(at_least),
                },
                _ => next,
            };
            within_bound(self.at)?;
            // An attribute does not count as the value expected here: the one after it does.
            if !matches!(shape, Shape::Attribute(_)) {
                *self.expected.last_mut().expect("a level") = expected_here - 1;
            }
            if let Shape::Aggregate(elements) | Shape::Attribute(elements) = shape {
                self.expected.push(elements);
            }
        }
    }
}

/// What a value's header announces, checked.
#[derive(Debug, Clone, Copy)]
enum Shape<'a> {
    /// `+`, `-` or `(`: the line is the value.
    Text(&'a [u8]),
    Integer(i64),
    Double(f64),
    Boolean(bool),
    Null,
    /// `$`, `!` or `=`: this many bytes, then CRLF.
    Blob(usize),
    /// `*`, `>`, `~` or `%`: this many elements (a map's keys and values both).
    Aggregate(usize),
    /// `|`: this many elements (keys and values), then the value they annotate.
    Attribute(usize),
}

fn shape(kind: u8, line: &[u8]) -> Result<Shape<'_>, RespError> {
    Ok(match kind {
        b'+' | b'-' => Shape::Text(line),
        b'(' => {
            let digits = line.strip_prefix(b"-").unwrap_or(line);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(RespError::BadNumber);
            }
            Shape::Text(line)
        }
        b':' => Shape::Integer(number(line)?),
        b',' => Shape::Double(double(line)?),
        b'#' => match line {
            b"t" => Shape::Boolean(true),
            b"f" => Shape::Boolean(false),
            _ => return Err(RespError::BadNumber),
        },
        b'_' if line.is_empty() => Shape::Null,
        b'_' => return Err(RespError::BadLine),
        b'$' | b'!' | b'=' => match number(line)? {
            -1 if kind == b'$' => Shape::Null,
            len if (0..=MAX_BULK_LEN as i64).contains(&len) => Shape::Blob(len as usize),
            len => return Err(RespError::TooLarge { len }),
        },
        b'*' | b'>' | b'~' | b'%' | b'|' => match number(line)? {
            -1 if kind == b'*' => Shape::Null,
            count if (0..=MAX_ELEMENTS as i64).contains(&count) => {
                let count = count as usize;
                match kind {
                    b'|' => Shape::Attribute(2 * count),
                    b'%' => Shape::Aggregate(2 * count),
                    _ => Shape::Aggregate(count),
                }
            }
            count => return Err(RespError::TooLarge { len: count }),
        },
        other => return Err(RespError::UnknownType(other)),
    })
}

/// The `len` bytes of a blob at `buf[at..]` (checked), or the least length `buf` needs.
fn blob(buf: &[u8], kind: u8, at: usize, len: usize) -> Result<Result<&[u8], usize>, RespError> {
    let end = at + len;
    let Some(tail) = buf.get(end..end + 2) else {
        return Ok(Err(end + 2));
    };
    if tail != b"\r\n" {
        return Err(RespError::BadLine);
    }
    let bytes = &buf[at..end];
    if kind == b'=' && bytes.get(3) != Some(&b':') {
        return Err(RespError::BadVerbatim);
    }
    Ok(Ok(bytes))
}

/// The value starting at `buf[at..]`, and the offset just past it.
fn value(buf: &[u8], at: usize, depth: usize) -> Result<Step, RespError> {
    let (kind, line, next) = match line(buf, at)? {
        Ok(header) => header,
        Err(need) => return Ok(Step::Need(need)),
    };
    let value = match shape(kind, line)? {
        Shape::Text(line) => match kind {
            b'+' => Value::Simple(text(line)),
            b'-' => Value::Error(text(line)),
            _ => Value::BigNumber(text(line)),
        },
        Shape::Integer(n) => Value::Integer(n),
        Shape::Double(d) => Value::Double(d),
        Shape::Boolean(b) => Value::Boolean(b),
        Shape::Null => Value::Null,
        Shape::Blob(len) => {
            let bytes = match blob(buf, kind, next, len)? {
                Ok(bytes) => bytes,
                Err(need) => return Ok(Step::Need(need)),
            };
            let value = match kind {
                b'!' => Value::Error(text(bytes)),
                b'=' => Value::Verbatim(bytes[4..].to_vec()),
                _ => Value::Bulk(bytes.to_vec()),
            };
            return Ok(Step::Value(value, next + len + 2));
        }
        Shape::Aggregate(elements) | Shape::Attribute(elements) => {
            return aggregate(buf, kind, elements, next, depth);
        }
    };
    Ok(Step::Value(value, next))
}

/// An array, push, set, map or attribute of `elements` values from `buf[at..]`.
fn aggregate(
    buf: &[u8],
    kind: u8,
    elements: usize,
    at: usize,
    depth: usize,
) -> Result<Step, RespError> {
    if depth >= MAX_DEPTH {
        return Err(RespError::TooDeep);
    }
    // The value an attribute annotates is still to come after its elements.
    let annotated = usize::from(kind == b'|');
    // The announced count is the peer's word: reserve no more than the bytes present can fill.
    let mut items = Vec::with_capacity(elements.min(buf.len().saturating_sub(at) / MIN_VALUE_LEN));
    let mut next = at;
    for i in 0..elements {
        match value(buf, next, depth + 1)? {
            Step::Value(item, after) => {
                items.push(item);
                next = after;
            }
            Step::Need(need) => {
                let after = elements - i - 1 + annotated;
                return Ok(Step::Need(need + after * MIN_VALUE_LEN));
            }
        }
    }
    let value = match kind {
        // Each attribute counts as a level: a chain of them is bounded like nesting is, not
        // recursed through without limit (a hostile server could exhaust the stack).
        b'|' => return value(buf, next, depth + 1),
        b'*' => Value::Array(items),
        b'>' => Value::Push(items),
        b'~' => Value::Set(items),
        _ => Value::Map(into_pairs(items)),
    };
    Ok(Step::Value(value, next))
}

fn into_pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

/// A value's first line: its type byte, the rest of the line, and the offset past its CRLF.
type Header<'a> = (u8, &'a [u8], usize);

/// The line at `buf[at..]`, or the least length `buf` needs before it can be whole.
fn line(buf: &[u8], at: usize) -> Result<Result<Header<'_>, usize>, RespError> {
    let rest = buf.get(at..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_LINE_LEN)];
    match window.iter().position(|&b| b == b'\r') {
        Some(cr) => match window.get(cr + 1) {
            Some(b'\n') if cr > 0 => Ok(Ok((rest[0], &rest[1..cr], at + cr + 2))),
            Some(_) => Err(RespError::BadLine),
            None => Ok(Err(at + cr + 2)),
        },
        None if window.len() == MAX_LINE_LEN => Err(RespError::BadLine),
        // The type byte, at least nothing, then CRLF.
        None => Ok(Err((at + 3).max(buf.len() + 1))),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A decimal i64: an optional `-` and 1 to 19 digits, nothing else.
fn number(line: &[u8]) -> Result<i64, RespError> {
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(RespError::BadNumber);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(RespError::BadNumber);
        }
        let d = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or(RespError::BadNumber)?;
    }
    Ok(n)
}

fn double(line: &[u8]) -> Result<f64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .ok_or(RespError::BadNumber)
}

#[cfg(test)]
mod tests;
