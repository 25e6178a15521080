use super::*;

/// A RESP3 push of a published message, as Redis 7 sends it after `HELLO 3`.
const PUSH_MESSAGE: &[u8] = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
/// The start of Redis 7's answer to `HELLO 3` (a map with a nested array).
const HELLO_REPLY: &[u8] = b"%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n\
$7\r\nmodules\r\n*0\r\n";

fn bulk(bytes: &[u8]) -> Value {
    Value::Bulk(bytes.to_vec())
}

/// One sample of every type, with the value it decodes to.
fn samples() -> Vec<(&'static [u8], Value)> {
    vec![
        (b"+OK\r\n", Value::Simple("OK".into())),
        (b"+\r\n", Value::Simple(String::new())),
        (
            b"-ERR unknown command\r\n",
            Value::Error("ERR unknown command".into()),
        ),
        (b"!3\r\nbad\r\n", Value::Error("bad".into())),
        (b":1000\r\n", Value::Integer(1000)),
        (b":-3\r\n", Value::Integer(-3)),
        (b":-9223372036854775808\r\n", Value::Integer(i64::MIN)),
        (b"$5\r\nhe\r\no\r\n", bulk(b"he\r\no")),
        (b"$0\r\n\r\n", bulk(b"")),
        (b"$-1\r\n", Value::Null),
        (b"*-1\r\n", Value::Null),
        (b"_\r\n", Value::Null),
        (b"#t\r\n", Value::Boolean(true)),
        (b"#f\r\n", Value::Boolean(false)),
        (b",1.5\r\n", Value::Double(1.5)),
        (b",-inf\r\n", Value::Double(f64::NEG_INFINITY)),
        (b",10e3\r\n", Value::Double(10e3)),
        (b"=8\r\ntxt:abcd\r\n", Value::Verbatim(b"abcd".to_vec())),
        (
            b"(-3492890328409238509324850943850943825024385\r\n",
            Value::BigNumber("-3492890328409238509324850943850943825024385".into()),
        ),
        (b"*0\r\n", Value::Array(vec![])),
        (
            b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n_\r\n",
            Value::Array(vec![
                Value::Integer(1),
                bulk(b"x"),
                Value::Array(vec![Value::Null]),
            ]),
        ),
        (
            b"~2\r\n#t\r\n,1.5\r\n",
            Value::Set(vec![Value::Boolean(true), Value::Double(1.5)]),
        ),
        (
            PUSH_MESSAGE,
            Value::Push(vec![bulk(b"message"), bulk(b"ch"), bulk(b"hello")]),
        ),
        (
            HELLO_REPLY,
            Value::Map(vec![
                (bulk(b"server"), bulk(b"redis")),
                (bulk(b"proto"), Value::Integer(3)),
                (bulk(b"modules"), Value::Array(vec![])),
            ]),
        ),
        // An attribute is dropped: the value after it is the one decoded.
        (
            b"|1\r\n+key\r\n:7\r\n*1\r\n:2\r\n",
            Value::Array(vec![Value::Integer(2)]),
        ),
    ]
}

#[track_caller]
fn whole(input: &[u8]) -> Value {
    match decode(input) {
        Ok(Decoded::Value(value, len)) => {
            assert_eq!(len, input.len(), "the whole input is one value");
            value
        }
        other => panic!("not one whole value: {other:?}"),
    }
}

#[test]
fn a_command_is_an_array_of_bulk_strings_of_the_announced_length() {
    let mut out = Vec::new();
    encode_command(&[b"PUBLISH", b"ch", b"hello"], &mut out);
    assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    let long = vec![b'x'; 1_234_567];
    for args in [
        &[b"HELLO".as_slice(), b"3"][..],
        &[b"PING"],
        &[b"SET", b"", &long],
        &[],
    ] {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        assert_eq!(out.len(), encoded_command_len(args));
        let expected = Value::Array(args.iter().map(|a| bulk(a)).collect());
        assert_eq!(whole(&out), expected);
    }
}

#[test]
fn every_type_decodes() {
    for (input, expected) in samples() {
        assert_eq!(whole(input), expected, "{}", String::from_utf8_lossy(input));
    }
    assert!(matches!(whole(b",nan\r\n"), Value::Double(d) if d.is_nan()));
}

#[test]
fn accessors() {
    assert_eq!(bulk(b"a").as_bytes(), Some(&b"a"[..]));
    assert_eq!(Value::Simple("OK".into()).as_bytes(), Some(&b"OK"[..]));
    assert_eq!(Value::Verbatim(b"v".to_vec()).as_bytes(), Some(&b"v"[..]));
    assert_eq!(Value::Integer(4).as_bytes(), None);
    assert_eq!(Value::Integer(4).as_int(), Some(4));
    assert_eq!(bulk(b"4").as_int(), None);
    for aggregate in [Value::Array, Value::Set, Value::Push] {
        assert_eq!(
            aggregate(vec![Value::Null]).into_array(),
            Some(vec![Value::Null])
        );
    }
    assert_eq!(Value::Map(vec![]).into_array(), None);
}

/// Every strict prefix is incomplete, and the hint never asks for more than the value holds
/// nor for less than one byte more than what is there.
#[track_caller]
fn check_every_cut(input: &[u8]) {
    for cut in 0..input.len() {
        match decode_step(&input[..cut]) {
            Ok(Step::Need(need)) => assert!(
                need > cut && need <= input.len(),
                "{:?} cut at {cut}: need {need}",
                String::from_utf8_lossy(input)
            ),
            other => panic!(
                "{:?} cut at {cut}: {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
        assert_eq!(decode(&input[..cut]), Ok(Decoded::Incomplete));
        assert_same_extent(&input[..cut]);
    }
    assert_same_extent(input);
}

/// [`extent`] says what [`decode_step`] says, without the value.
#[track_caller]
fn assert_same_extent(input: &[u8]) {
    let expected = decode_step(input).map(|step| match step {
        Step::Need(need) => Extent::Need(need),
        Step::Value(_, len) => Extent::Whole(len),
    });
    assert_eq!(
        extent(input),
        expected,
        "{}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn every_cut_is_incomplete_with_a_hint_within_the_value() {
    for (input, _) in samples() {
        check_every_cut(input);
    }
    let mut out = Vec::new();
    encode_command(&[b"SET", b"key", &[7u8; 300]], &mut out);
    check_every_cut(&out);
}

#[test]
fn a_scanner_resumed_over_growing_input_says_what_a_fresh_decode_says() {
    let mut inputs: Vec<Vec<u8>> = samples().into_iter().map(|(b, _)| b.to_vec()).collect();
    let mut nested = b"*1\r\n|1\r\n+a\r\n:1\r\n%1\r\n$1\r\nk\r\n*2\r\n=6\r\ntxt:ab\r\n".to_vec();
    nested.extend_from_slice(b"~1\r\n_\r\n");
    inputs.push(nested);
    for input in &inputs {
        for step in [1, 2, 5] {
            let mut scanner = Scanner::default();
            let mut cut = 0;
            loop {
                cut = (cut + step).min(input.len());
                let expected = match decode_step(&input[..cut]) {
                    Ok(Step::Need(need)) => Extent::Need(need),
                    Ok(Step::Value(_, len)) => Extent::Whole(len),
                    Err(e) => panic!("{e}"),
                };
                assert_eq!(
                    scanner.scan(&input[..cut]),
                    Ok(expected),
                    "{} cut at {cut}",
                    String::from_utf8_lossy(input)
                );
                if cut == input.len() {
                    break;
                }
            }
            // Reset after a whole value: the next scan starts afresh.
            assert_eq!(scanner.scan(input), Ok(Extent::Whole(input.len())));
        }
    }
}

#[test]
fn values_in_a_row_are_read_one_at_a_time() {
    let samples = samples();
    let all: Vec<u8> = samples
        .iter()
        .flat_map(|(b, _)| b.iter().copied())
        .collect();
    let mut at = 0;
    for (input, expected) in &samples {
        match decode(&all[at..]) {
            Ok(Decoded::Value(value, len)) => {
                assert_eq!(&value, expected);
                assert_eq!(len, input.len());
                at += len;
            }
            other => panic!("at {at}: {other:?}"),
        }
    }
    assert_eq!(decode(&all[at..]), Ok(Decoded::Incomplete));
}

#[test]
fn the_hint_of_a_long_bulk_string_is_exact() {
    let mut input = b"$100000\r\n".to_vec();
    input.extend_from_slice(&[b'a'; 500]);
    assert_eq!(decode_step(&input), Ok(Step::Need(9 + 100_000 + 2)));
}

#[test]
fn the_hint_of_a_long_array_counts_what_is_announced() {
    let mut input = b"*1000\r\n".to_vec();
    for _ in 0..10 {
        input.extend_from_slice(b"$3\r\nabc\r\n");
    }
    // 990 elements to go, each at least 3 bytes.
    assert_eq!(
        decode_step(&input),
        Ok(Step::Need(input.len() + 3 + 989 * 3))
    );
}

#[test]
fn hostile_input_is_an_error_before_anything_is_buffered() {
    let cases: &[(&[u8], RespError)] = &[
        (b"?x\r\n", RespError::UnknownType(b'?')),
        (b"$?\r\n", RespError::BadNumber),
        (b":12a\r\n", RespError::BadNumber),
        (b":\r\n", RespError::BadNumber),
        (b":+1\r\n", RespError::BadNumber),
        (b":--1\r\n", RespError::BadNumber),
        (b":9223372036854775808\r\n", RespError::BadNumber),
        (b":99999999999999999999\r\n", RespError::BadNumber),
        (b"$abc\r\n", RespError::BadNumber),
        (b"#x\r\n", RespError::BadNumber),
        (b",\r\n", RespError::BadNumber),
        (b",1.2.3\r\n", RespError::BadNumber),
        (b"(12a\r\n", RespError::BadNumber),
        (b"(-\r\n", RespError::BadNumber),
        (b"$-2\r\n", RespError::TooLarge { len: -2 }),
        (b"!-1\r\n", RespError::TooLarge { len: -1 }),
        (b">-1\r\n", RespError::TooLarge { len: -1 }),
        (
            b"$16777217\r\n",
            RespError::TooLarge {
                len: MAX_BULK_LEN as i64 + 1,
            },
        ),
        (
            b"$9223372036854775807\r\n",
            RespError::TooLarge { len: i64::MAX },
        ),
        (
            b"*1048577\r\n",
            RespError::TooLarge {
                len: MAX_ELEMENTS as i64 + 1,
            },
        ),
        (b"$2\r\nabXY", RespError::BadLine),
        (b"+a\rb\r\n", RespError::BadLine),
        (b"\r\n", RespError::BadLine),
        (b"_x\r\n", RespError::BadLine),
        (b"=3\r\ntxt\r\n", RespError::BadVerbatim),
        (b"=4\r\ntxt;\r\n", RespError::BadVerbatim),
    ];
    for (input, expected) in cases {
        assert_eq!(
            decode(input).as_ref(),
            Err(expected),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert_same_extent(input);
        // Displayable without panicking, and says what went wrong.
        assert!(!expected.to_string().is_empty());
    }
    assert_eq!(decode(&[b'+'; MAX_LINE_LEN + 10]), Err(RespError::BadLine));
    let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
    assert_eq!(decode(&deep), Err(RespError::TooDeep));
    // One level less is fine: incomplete, then whole.
    let mut nested = b"*1\r\n".repeat(MAX_DEPTH);
    assert_eq!(decode(&nested), Ok(Decoded::Incomplete));
    nested.extend_from_slice(b"_\r\n");
    assert_eq!(
        decode(&nested).map(|d| matches!(d, Decoded::Value(..))),
        Ok(true)
    );
}

#[test]
fn a_huge_announced_count_reserves_nothing_until_it_arrives() {
    // A million elements announced, none sent: incomplete, not a million slots allocated.
    assert!(matches!(
        decode_step(b"*1000000\r\n"),
        Ok(Step::Need(n)) if n == 10 + 3 * 1_000_000
    ));
}

#[test]
fn a_value_over_the_total_bound_is_refused_from_its_headers() {
    let mut input = b"*3\r\n$16777216\r\n".to_vec();
    input.resize(input.len() + MAX_BULK_LEN, b'x');
    input.extend_from_slice(b"\r\n$16777216\r\n");
    assert!(matches!(
        decode(&input),
        Err(RespError::ValueTooLarge { len }) if len > MAX_VALUE_LEN
    ));
}

#[test]
fn random_bytes_never_panic() {
    let alphabet = b"+-:$*%~>_#,(=!|\r\n0123456789-tfx";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut input = Vec::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            input.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        assert_same_extent(&input);
        match decode_step(&input) {
            Ok(Step::Value(_, len)) => assert!(len <= input.len()),
            Ok(Step::Need(need)) => assert!(need > input.len()),
            Err(_) => {}
        }
    }
}

#[test]
fn a_chain_of_attributes_is_bounded_like_nesting() {
    // 100,000 attributes before one integer (400 KB): recursing once per attribute without
    // a bound overflowed the stack.
    let mut bytes = b"|0\r\n".repeat(100_000);
    bytes.extend_from_slice(b":1\r\n");
    assert!(matches!(decode(&bytes), Err(RespError::TooDeep)));
    // A few are read as before: the attributes dropped, the value kept.
    let mut few = b"|0\r\n".repeat(3);
    few.extend_from_slice(b":1\r\n");
    assert!(matches!(decode(&few), Ok(Decoded::Value(Value::Integer(1), n)) if n == few.len()));
}
