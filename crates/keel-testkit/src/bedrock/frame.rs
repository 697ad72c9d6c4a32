//! The few lines of `application/vnd.amazon.eventstream` encoding the fake
//! needs, written here rather than shared with the gateway's decoder, so a
//! framing mistake cannot hide in both: total length, headers length and
//! their CRC32, string headers, the payload, and the CRC32 of all of it
//! (big-endian; CRC-32 as gzip computes it).

/// One message with string headers.
pub(crate) fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut section = Vec::new();
    for (name, value) in headers {
        section.push(name.len() as u8);
        section.extend_from_slice(name.as_bytes());
        section.push(7);
        section.extend_from_slice(&(value.len() as u16).to_be_bytes());
        section.extend_from_slice(value.as_bytes());
    }
    let total = 16 + section.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(section.len() as u32).to_be_bytes());
    let prelude = crc32(&out);
    out.extend_from_slice(&prelude.to_be_bytes());
    out.extend_from_slice(&section);
    out.extend_from_slice(payload);
    let whole = crc32(&out);
    out.extend_from_slice(&whole.to_be_bytes());
    out
}

/// An event message as Bedrock sends them: JSON payload, `:event-type`.
pub(crate) fn event(event_type: &str, payload: &serde_json::Value) -> Vec<u8> {
    message(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// CRC-32 (IEEE 802.3 polynomial, reflected, as gzip and zlib compute it),
/// bit by bit: slow, short and obviously right.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_aws_crt_test_vectors() {
        // aws-c-event-stream tests/message_deserializer_test.c: no headers,
        // then one `content-type: application/json` header, payload
        // `{'foo':'bar'}`.
        let no_headers = message(&[], b"{'foo':'bar'}");
        assert_eq!(&no_headers[8..12], &[0xfd, 0x52, 0x8c, 0x5a]);
        assert_eq!(&no_headers[25..], &[0xc3, 0x65, 0x39, 0x36]);
        let one = message(&[("content-type", "application/json")], b"{'foo':'bar'}");
        assert_eq!(one.len(), 0x3D);
        assert_eq!(&one[8..12], &[0x07, 0xFD, 0x83, 0x96]);
        assert_eq!(&one[0x3D - 4..], &[0x8D, 0x9C, 0x08, 0xB1]);
    }
}
