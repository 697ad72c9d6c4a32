//! Turns a Gemini `GenerateContentRequest` into a [`GeminiPlan`]: what every
//! candidate answers and what usage to report. The rules are documented on
//! the parent module; rendering happens in `render.rs`.

use serde_json::{Map, Value};

use crate::chat::plan::{Overrides, TOOL_CALL_TOKENS};
use crate::schema;
use crate::text;

/// Most candidates the fake returns for one request.
const MAX_CANDIDATES: u64 = 8;

/// Everything needed to render one answer, streamed or not.
#[derive(Debug, Clone)]
pub(crate) struct GeminiPlan {
    pub response_id: String,
    pub model_version: String,
    /// `None` when the prompt is blocked.
    pub candidates: Option<Vec<Candidate>>,
    /// `None` when the upstream must not report usage (`fault-no-usage`).
    pub usage: Option<Usage>,
}

/// One candidate's answer and why it ended.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub answer: Answer,
    /// `STOP` or `MAX_TOKENS`.
    pub finish_reason: &'static str,
}

/// Text (as stream tokens) or one function call.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Text(Vec<String>),
    Call { name: String, args: Value },
}

/// Token counts to report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub prompt: u64,
    pub candidates: u64,
    pub cached: u64,
}

/// Builds the plan, or the message of the 400 Gemini sends for a request it
/// cannot read.
pub(crate) fn plan(
    req: &Value,
    model: &str,
    blocked: bool,
    overrides: &Overrides,
) -> Result<GeminiPlan, String> {
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            "* GenerateContentRequest.contents: contents is not specified\n".to_owned()
        })?;
    let config = req.get("generationConfig").unwrap_or(&Value::Null);
    let n = config
        .get("candidateCount")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, MAX_CANDIDATES) as usize;
    let candidates = (!blocked).then(|| {
        let candidate = match function_call(req) {
            Some((name, args)) => Candidate {
                answer: Answer::Call { name, args },
                finish_reason: "STOP",
            },
            None => text_candidate(contents, config, overrides),
        };
        vec![candidate; n]
    });
    let completion: u64 = candidates
        .iter()
        .flatten()
        .map(|c| match &c.answer {
            Answer::Text(tokens) => tokens.len() as u64,
            Answer::Call { .. } => TOOL_CALL_TOKENS,
        })
        .sum();
    let prompt = prompt_tokens(req, contents);
    let usage = (!overrides.no_usage).then_some(Usage {
        prompt,
        candidates: completion,
        cached: if model == "fake-cached" {
            prompt / 2
        } else {
            0
        },
    });
    Ok(GeminiPlan {
        response_id: text::completion_id()
            .trim_start_matches("chatcmpl-")
            .to_owned(),
        model_version: format!("{model}-001"),
        candidates,
        usage,
    })
}

/// The words of a content's text parts, joined by spaces.
fn content_text(content: &Value) -> String {
    content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Σ over `contents` and the system instruction of (words + 3).
pub(crate) fn prompt_tokens(req: &Value, contents: &[Value]) -> u64 {
    let system = req
        .get("systemInstruction")
        .map_or(0, |s| text::words(&content_text(s)) + 3);
    system
        + contents
            .iter()
            .map(|c| text::words(&content_text(c)) + 3)
            .sum::<u64>()
}

/// Whether a content is the user's: role `user`, or no role at all.
fn is_user(content: &Value) -> bool {
    matches!(
        content.get("role").and_then(Value::as_str),
        None | Some("user")
    )
}

/// The text of the last user content that has text ("" when none).
fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .filter(|c| is_user(c))
        .find(|c| {
            c.get("parts")
                .and_then(Value::as_array)
                .is_some_and(|parts| parts.iter().any(|p| p.get("text").is_some()))
        })
        .map(content_text)
        .unwrap_or_default()
}

/// The text answer after the JSON format, `stopSequences` and
/// `maxOutputTokens`.
fn text_candidate(contents: &[Value], config: &Value, overrides: &Overrides) -> Candidate {
    let user = last_user_text(contents);
    let user = user.split_whitespace().collect::<Vec<_>>().join(" ");
    let json = config.get("responseMimeType").and_then(Value::as_str) == Some("application/json");
    let schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"));
    let mut content = match (&overrides.reply, json, schema) {
        (Some(reply), _, _) => reply.clone(),
        (None, true, Some(schema)) => schema::default_for(&lower_types(schema)).to_string(),
        (None, true, None) => serde_json::json!({ "echo": user }).to_string(),
        (None, false, _) => format!("Echo: {user}"),
    };
    if let Some(at) = config
        .get("stopSequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .filter_map(|s| content.find(s))
        .min()
    {
        content.truncate(at);
    }
    let mut tokens = text::tokens(&content);
    let mut finish_reason = "STOP";
    if let Some(limit) = config.get("maxOutputTokens").and_then(Value::as_u64) {
        if tokens.len() as u64 > limit {
            tokens.truncate(limit as usize);
            finish_reason = "MAX_TOKENS";
        }
    }
    Candidate {
        answer: Answer::Text(tokens),
        finish_reason,
    }
}

/// The function to call and its arguments, or `None` to answer with text:
/// the first allowed name under mode `ANY`, else the first declared
/// function; never under mode `NONE`.
fn function_call(req: &Value) -> Option<(String, Value)> {
    let declarations: Vec<&Value> = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
        .flatten()
        .collect();
    let first = declarations.first()?;
    let config = req.pointer("/toolConfig/functionCallingConfig");
    let mode = config
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    if mode == "NONE" {
        return None;
    }
    let allowed = config
        .and_then(|c| c.get("allowedFunctionNames"))
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str)
        .filter(|_| mode == "ANY");
    let name_of = |d: &Value| {
        d.get("name")
            .and_then(Value::as_str)
            .unwrap_or("unnamed")
            .to_owned()
    };
    let (name, declaration) = match allowed {
        Some(name) => (
            name.to_owned(),
            declarations
                .iter()
                .find(|d| d.get("name").and_then(Value::as_str) == Some(name))
                .copied(),
        ),
        None => (name_of(first), Some(*first)),
    };
    let params = declaration
        .and_then(|d| {
            d.get("parametersJsonSchema")
                .or_else(|| d.get("parameters"))
        })
        .map(lower_types)
        .unwrap_or(Value::Null);
    Some((name, schema::object_for(&params)))
}

/// The schema with Gemini's upper-case OpenAPI `type` names (`STRING`,
/// `OBJECT`…) in JSON Schema's lower case, so defaults can be built alike.
fn lower_types(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_lowercase()),
                        _ => lower_types(v),
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(lower_types).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_types_are_read_like_json_schema_types() {
        let params = json!({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}}}, "required": ["n", "tags"]});
        assert_eq!(
            schema::object_for(&lower_types(&params)),
            json!({"n": 0, "tags": []})
        );
    }

    #[test]
    fn the_last_user_text_skips_function_responses() {
        let contents = [
            json!({"role": "user", "parts": [{"text": "first  question"}]}),
            json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}),
            json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}),
        ];
        assert_eq!(last_user_text(&contents), "first  question");
        assert_eq!(
            last_user_text(&[json!({"parts": [{"text": "no role"}]})]),
            "no role"
        );
    }
}
