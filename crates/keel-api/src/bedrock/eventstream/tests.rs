use super::*;

/// A message without headers whose payload is `{'foo':'bar'}`: the test
/// vector of the AWS CRT event stream library (aws-c-event-stream,
/// tests/message_deserializer_test.c), also used by smithy-rs.
const CRT_NO_HEADERS: &[u8] = &[
    0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66, 0x6f,
    0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36,
];

/// The same payload with one string header `content-type: application/json`
/// (same source).
const CRT_ONE_HEADER: &[u8] = &[
    0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, b'c', b'o', b'n',
    b't', b'e', b'n', b't', b'-', b't', b'y', b'p', b'e', 0x07, 0x00, 0x10, b'a', b'p', b'p', b'l',
    b'i', b'c', b'a', b't', b'i', b'o', b'n', b'/', b'j', b's', b'o', b'n', 0x7b, 0x27, 0x66, 0x6f,
    0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0x8D, 0x9C, 0x08, 0xB1,
];

fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, Error> {
    let mut decoder = Decoder::new(1 << 20);
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

#[test]
fn decodes_the_crt_test_vectors() {
    let m = decode_all(CRT_NO_HEADERS).unwrap();
    assert_eq!(m.len(), 1);
    assert!(m[0].headers.is_empty());
    assert_eq!(m[0].payload, b"{'foo':'bar'}");
    let m = decode_all(CRT_ONE_HEADER).unwrap();
    assert_eq!(m[0].header_str("content-type"), Some("application/json"));
    assert_eq!(m[0].payload, b"{'foo':'bar'}");
}

#[test]
fn encode_reproduces_the_crt_test_vectors() {
    assert_eq!(encode(&[], b"{'foo':'bar'}"), CRT_NO_HEADERS);
    assert_eq!(
        encode(&[("content-type", "application/json")], b"{'foo':'bar'}"),
        CRT_ONE_HEADER
    );
}

#[test]
fn any_split_of_several_messages_decodes_the_same() {
    let mut stream = encode(
        &[(":event-type", "messageStart"), (":message-type", "event")],
        br#"{"role":"assistant"}"#,
    );
    stream.extend(CRT_NO_HEADERS);
    stream.extend(encode(&[(":message-type", "event")], b""));
    let whole = decode_all(&stream).unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0].event_type(), Some("messageStart"));
    assert_eq!(whole[0].message_type(), Some("event"));
    for size in 1..stream.len() {
        let mut decoder = Decoder::new(1 << 20);
        let mut out = Vec::new();
        for piece in stream.chunks(size) {
            decoder.feed(piece, &mut out).unwrap();
        }
        decoder.finish().unwrap();
        assert_eq!(out, whole, "chunk size {size}");
    }
}

#[test]
fn checksums_are_checked() {
    let mut bad = CRT_ONE_HEADER.to_vec();
    bad[9] ^= 1;
    assert!(matches!(
        decode_all(&bad),
        Err(Error::PreludeChecksum { .. })
    ));
    let mut bad = CRT_ONE_HEADER.to_vec();
    bad[20] ^= 1;
    assert!(matches!(
        decode_all(&bad),
        Err(Error::MessageChecksum { .. })
    ));
}

#[test]
fn an_error_stops_the_stream_for_good() {
    let mut bad = CRT_NO_HEADERS.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let mut decoder = Decoder::new(1 << 20);
    let mut out = Vec::new();
    assert!(decoder.feed(&bad, &mut out).is_err());
    assert!(decoder.feed(CRT_NO_HEADERS, &mut out).is_err());
    assert!(decoder.finish().is_err());
    assert!(out.is_empty());
}

#[test]
fn lengths_are_bounded_and_truncation_is_reported() {
    let big = encode(&[], &[b'x'; 100]);
    let mut decoder = Decoder::new(64);
    assert!(matches!(
        decoder.feed(&big, &mut Vec::new()),
        Err(Error::TooLarge { len: 116, max: 64 })
    ));
    // A header length larger than the message allows.
    let mut prelude = 16u32.to_be_bytes().to_vec();
    prelude.extend(1u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend(crc.to_be_bytes());
    assert!(matches!(
        decode_all(&prelude),
        Err(Error::InvalidLength { .. })
    ));
    let cut = &CRT_ONE_HEADER[..30];
    let mut decoder = Decoder::new(1 << 20);
    let mut out = Vec::new();
    decoder.feed(cut, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(decoder.finish(), Err(Error::Truncated(30)));
}
