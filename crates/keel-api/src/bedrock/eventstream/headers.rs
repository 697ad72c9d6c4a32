//! Event stream header values: every type the format defines is parsed, so a
//! message carrying headers Keel does not read still decodes, and a header
//! whose declared length runs past its section is an error, never a panic.
//!
//! On the wire a header is: name length (u8, at least 1), UTF-8 name, type
//! indicator (u8), then the value: nothing for `true` (0) and `false` (1);
//! big-endian `i8` (2), `i16` (3), `i32` (4), `i64` (5); a u16-length-prefixed
//! byte array (6) or UTF-8 string (7); an `i64` of milliseconds since the Unix
//! epoch (8); 16 UUID bytes (9).

use super::Error;

/// One header value, typed as the format types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (`true`) and 1 (`false`).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6.
    Bytes(Vec<u8>),
    /// Type 7, the only type Bedrock's protocol headers use.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// A named header of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name, e.g. `:event-type`.
    pub name: String,
    /// Its typed value.
    pub value: HeaderValue,
}

/// Parses a whole headers section.
pub(super) fn parse(mut section: &[u8]) -> Result<Vec<Header>, Error> {
    let mut headers = Vec::new();
    while !section.is_empty() {
        let (header, rest) = parse_one(section)?;
        headers.push(header);
        section = rest;
    }
    Ok(headers)
}

fn parse_one(bytes: &[u8]) -> Result<(Header, &[u8]), Error> {
    let (&name_len, rest) = bytes.split_first().ok_or_else(|| bad("empty header"))?;
    if name_len == 0 {
        return Err(bad("a header name is empty"));
    }
    let (name, rest) = take(rest, usize::from(name_len), "header name")?;
    let name = std::str::from_utf8(name)
        .map_err(|_| bad("a header name is not UTF-8"))?
        .to_owned();
    let (&kind, rest) = rest
        .split_first()
        .ok_or_else(|| bad("a header has no value type"))?;
    let (value, rest) = match kind {
        0 => (HeaderValue::Bool(true), rest),
        1 => (HeaderValue::Bool(false), rest),
        2 => {
            let (v, rest) = fixed::<1>(rest)?;
            (HeaderValue::Byte(i8::from_be_bytes(v)), rest)
        }
        3 => {
            let (v, rest) = fixed::<2>(rest)?;
            (HeaderValue::Short(i16::from_be_bytes(v)), rest)
        }
        4 => {
            let (v, rest) = fixed::<4>(rest)?;
            (HeaderValue::Int(i32::from_be_bytes(v)), rest)
        }
        5 => {
            let (v, rest) = fixed::<8>(rest)?;
            (HeaderValue::Long(i64::from_be_bytes(v)), rest)
        }
        6 | 7 => {
            let (len, rest) = fixed::<2>(rest)?;
            let (data, rest) = take(rest, usize::from(u16::from_be_bytes(len)), "header value")?;
            if kind == 6 {
                (HeaderValue::Bytes(data.to_vec()), rest)
            } else {
                let text = std::str::from_utf8(data)
                    .map_err(|_| bad("a string header value is not UTF-8"))?;
                (HeaderValue::String(text.to_owned()), rest)
            }
        }
        8 => {
            let (v, rest) = fixed::<8>(rest)?;
            (HeaderValue::Timestamp(i64::from_be_bytes(v)), rest)
        }
        9 => {
            let (v, rest) = fixed::<16>(rest)?;
            (HeaderValue::Uuid(v), rest)
        }
        other => return Err(bad(format!("unknown header value type {other}"))),
    };
    Ok((Header { name, value }, rest))
}

fn take<'a>(bytes: &'a [u8], n: usize, what: &str) -> Result<(&'a [u8], &'a [u8]), Error> {
    if bytes.len() < n {
        return Err(bad(format!("a {what} runs past the headers section")));
    }
    Ok(bytes.split_at(n))
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), Error> {
    let (head, rest) = take(bytes, N, "header value")?;
    let mut out = [0u8; N];
    out.copy_from_slice(head);
    Ok((out, rest))
}

fn bad(reason: impl Into<String>) -> Error {
    Error::InvalidHeader(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one header by hand, for the parser to read back.
    fn header(name: &str, kind: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out.push(kind);
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn every_value_type_parses() {
        let mut section = Vec::new();
        section.extend(header("t", 0, &[]));
        section.extend(header("f", 1, &[]));
        section.extend(header("b", 2, &[0xfe]));
        section.extend(header("s", 3, &20_000i16.to_be_bytes()));
        section.extend(header("i", 4, &500_000i32.to_be_bytes()));
        section.extend(header("l", 5, &50_000_000_000i64.to_be_bytes()));
        section.extend(header("y", 6, &[0, 2, 1, 2]));
        section.extend(header("str", 7, &[0, 2, b'o', b'k']));
        section.extend(header("ts", 8, &5_000_000_000i64.to_be_bytes()));
        section.extend(header("u", 9, &[7; 16]));
        let values: Vec<HeaderValue> = parse(&section)
            .unwrap()
            .into_iter()
            .map(|h| h.value)
            .collect();
        assert_eq!(
            values,
            vec![
                HeaderValue::Bool(true),
                HeaderValue::Bool(false),
                HeaderValue::Byte(-2),
                HeaderValue::Short(20_000),
                HeaderValue::Int(500_000),
                HeaderValue::Long(50_000_000_000),
                HeaderValue::Bytes(vec![1, 2]),
                HeaderValue::String("ok".into()),
                HeaderValue::Timestamp(5_000_000_000),
                HeaderValue::Uuid([7; 16]),
            ]
        );
    }

    #[test]
    fn truncated_and_unknown_headers_fail() {
        assert!(parse(&header("s", 7, &[0, 9, b'x'])).is_err());
        assert!(parse(&header("l", 5, &[0, 0])).is_err());
        assert!(parse(&header("x", 10, &[])).is_err());
        assert!(parse(&[0, 7]).is_err());
        assert!(parse(&[5, b'a']).is_err());
        assert!(parse(&header("s", 7, &[0, 1, 0xff])).is_err());
    }
}
