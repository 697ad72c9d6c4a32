//! Renders a [`GeminiPlan`] as one `GenerateContentResponse`, or as the
//! sequence of response fragments a stream sends, in Gemini's documented
//! shapes.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::plan::{Answer, Candidate, GeminiPlan, Usage};

/// The safety ratings reported on a blocked prompt.
fn blocked_ratings() -> Value {
    json!([
        {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "MEDIUM"},
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE"}
    ])
}

/// `usageMetadata`; the cached count only when there is one, as Google does.
fn usage_json(u: Usage) -> Value {
    let mut out = json!({
        "promptTokenCount": u.prompt,
        "candidatesTokenCount": u.candidates,
        "totalTokenCount": u.prompt + u.candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.prompt}],
    });
    if u.cached > 0 {
        out["cachedContentTokenCount"] = json!(u.cached);
    }
    out
}

/// A response object around `candidates` (or a blocked prompt when `None`).
fn response(plan: &GeminiPlan, candidates: Option<Vec<Value>>, usage: Option<Usage>) -> Value {
    let mut out = Map::new();
    match candidates {
        Some(list) => {
            out.insert("candidates".into(), Value::Array(list));
        }
        None => {
            out.insert(
                "promptFeedback".into(),
                json!({"blockReason": "SAFETY", "safetyRatings": blocked_ratings()}),
            );
        }
    }
    if let Some(u) = usage {
        let meta = match out.contains_key("candidates") {
            true => usage_json(u),
            false => json!({"promptTokenCount": u.prompt, "totalTokenCount": u.prompt}),
        };
        out.insert("usageMetadata".into(), meta);
    }
    out.insert("modelVersion".into(), json!(plan.model_version));
    out.insert("responseId".into(), json!(plan.response_id));
    Value::Object(out)
}

/// One candidate object holding `parts`, with its finish reason if it ended.
fn candidate(index: usize, parts: Vec<Value>, finish: Option<&str>) -> Value {
    let mut out = json!({"content": {"parts": parts, "role": "model"}, "index": index});
    if let Some(reason) = finish {
        out["finishReason"] = json!(reason);
    }
    out
}

fn call_part(name: &str, args: &Value) -> Value {
    json!({"functionCall": {"name": name, "args": args}})
}

/// The non-streamed `GenerateContentResponse`.
pub(crate) fn response_json(plan: &GeminiPlan) -> Value {
    let candidates = plan.candidates.as_ref().map(|list| {
        list.iter()
            .enumerate()
            .map(|(i, c)| {
                let parts = match &c.answer {
                    Answer::Text(tokens) => vec![json!({"text": tokens.concat()})],
                    Answer::Call { name, args } => vec![call_part(name, args)],
                };
                candidate(i, parts, Some(c.finish_reason))
            })
            .collect()
    });
    response(plan, candidates, plan.usage)
}

/// The candidate fragments of one candidate, in order; the last one carries
/// the finish reason.
fn fragments(index: usize, c: &Candidate) -> Vec<Value> {
    let pieces: Vec<Vec<Value>> = match &c.answer {
        Answer::Text(tokens) if tokens.is_empty() => vec![vec![json!({"text": ""})]],
        Answer::Text(tokens) => tokens.iter().map(|t| vec![json!({"text": t})]).collect(),
        Answer::Call { name, args } => vec![vec![call_part(name, args)]],
    };
    let last = pieces.len().saturating_sub(1);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, parts)| candidate(index, parts, (i == last).then_some(c.finish_reason)))
        .collect()
}

/// The response fragments of a stream: one per word (or per function call)
/// of each candidate, candidates interleaved position by position, usage on
/// the last one. A blocked prompt is one fragment.
pub(crate) fn stream_events(plan: &GeminiPlan) -> Vec<Value> {
    let Some(list) = &plan.candidates else {
        return vec![response(plan, None, plan.usage)];
    };
    let per_candidate: Vec<Vec<Value>> = list
        .iter()
        .enumerate()
        .map(|(i, c)| fragments(i, c))
        .collect();
    let longest = per_candidate.iter().map(Vec::len).max().unwrap_or(0);
    let mut events = Vec::new();
    for pos in 0..longest {
        for fragments in &per_candidate {
            if let Some(fragment) = fragments.get(pos) {
                events.push(response(plan, Some(vec![fragment.clone()]), None));
            }
        }
    }
    if let (Some(last), Some(u)) = (events.last_mut(), plan.usage) {
        last["usageMetadata"] = usage_json(u);
    }
    events
}

/// One SSE event as Google frames them: `data: <json>\r\n\r\n`.
pub(crate) fn sse_event(value: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    out.extend(serde_json::to_vec(value).unwrap_or_default());
    out.extend_from_slice(b"\r\n\r\n");
    Bytes::from(out)
}
