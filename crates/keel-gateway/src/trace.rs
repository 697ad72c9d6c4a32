//! Trace context: W3C `traceparent` or `x-keel-trace-id` in, ids for the
//! record out. A call without either starts a new trace.

use http::HeaderMap;
use uuid::Uuid;

/// The ids that place a call in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This call's span: 16 hex digits.
    pub span_id: String,
    /// The caller's span, from `traceparent`.
    pub parent_span_id: Option<String>,
}

impl TraceContext {
    /// Reads the trace headers; `id` (the invocation id) seeds new ids.
    pub fn from_headers(headers: &HeaderMap, id: &Uuid) -> TraceContext {
        let hex = id.simple().to_string();
        // The low 64 bits of a UUIDv7 are random: a good span id.
        let span_id = hex[16..].to_owned();
        if let Some((trace_id, parent)) = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
        {
            return TraceContext {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
            };
        }
        let given = headers
            .get("x-keel-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128);
        TraceContext {
            trace_id: given.map(str::to_owned).unwrap_or(hex),
            span_id,
            parent_span_id: None,
        }
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are
/// invalid per the W3C spec.
fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !is_hex(version, 2)
        || version == "ff"
        || !is_hex(trace, 32)
        || !is_hex(parent, 16)
        || !is_hex(flags, 2)
    {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((trace.to_owned(), parent.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&'static str, &'static str)]) -> TraceContext {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        TraceContext::from_headers(&h, &Uuid::now_v7())
    }

    #[test]
    fn reads_a_w3c_traceparent() {
        let c = ctx(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(c.span_id.len(), 16);
    }

    #[test]
    fn rejects_invalid_traceparents() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let c = ctx(&[("traceparent", bad)]);
            assert!(c.parent_span_id.is_none(), "{bad}");
            assert_eq!(c.trace_id.len(), 32);
        }
    }

    #[test]
    fn keel_trace_header_and_fresh_traces() {
        assert_eq!(ctx(&[("x-keel-trace-id", "run-42")]).trace_id, "run-42");
        let a = ctx(&[]);
        let b = ctx(&[]);
        assert_ne!(a.trace_id, b.trace_id);
    }
}
