//! A request as one candidate's HTTP request. Runs once per attempt, since
//! the candidates of a plan may speak different formats: a candidate of the
//! client's own format gets the client's bytes (only `model` rewritten when
//! it differs); any other gets the canonical OpenAI body translated by its
//! format's codec.

use bytes::Bytes;
use http::HeaderMap;
use keel_api::chat::ChatRequest;
use keel_api::ApiError;
use keel_providers::{CallSpec, Route, UpstreamRequest};

use super::ending::internal;
use super::request::{Parsed, Request};
use crate::invocation::Call;

/// What an attempt sends, or the answer Keel gives itself.
pub enum Prepared {
    /// The provider's HTTP request.
    Upstream(UpstreamRequest),
    /// A token count Keel made itself (`{"input_tokens": n}`), for a
    /// provider that cannot count.
    Local(Bytes),
}

/// The request for `candidate`.
pub fn for_candidate(
    call: &Call,
    request: &mut Request<'_>,
    candidate: &Route,
    headers: &HeaderMap,
) -> Result<Prepared, ApiError> {
    let body = match provider_body(call, request, candidate)? {
        ProviderBody::Upstream(body) => body,
        ProviderBody::Local(answer) => return Ok(Prepared::Local(answer)),
    };
    // The client's headers only when the provider reads some of them
    // (e.g. `anthropic-beta`); an empty map (no copy) otherwise.
    let empty = HeaderMap::new();
    let spec = CallSpec {
        operation: call.operation,
        upstream_model: &candidate.upstream_model,
        stream: call.stream,
        client_headers: match candidate.provider.reads_client_headers() {
            true => headers,
            false => &empty,
        },
    };
    let provider = &candidate.provider;
    let upstream = provider.request(spec, body).map_err(|e| {
        internal(format!(
            "could not build the request for provider '{}': {e}",
            provider.name()
        ))
    })?;
    Ok(Prepared::Upstream(upstream))
}

/// The body an attempt sends, or Keel's own answer.
enum ProviderBody {
    Upstream(Bytes),
    Local(Bytes),
}

/// The body in the candidate's format.
fn provider_body(
    call: &Call,
    request: &mut Request<'_>,
    candidate: &Route,
) -> Result<ProviderBody, ApiError> {
    let codec = candidate.provider.codec();
    let model = &candidate.upstream_model;
    let same_format = call.ingress.speaks(codec);
    let ask_usage = codec.usage_on_request() && candidate.provider.stream_usage();
    let body = match &request.parsed {
        Parsed::Embeddings(embeddings) => embeddings
            .upstream_body(model, request.body.len())
            .map(Bytes::from),
        Parsed::Chat(chat) if same_format => chat.upstream_body(model, ask_usage).map(Bytes::from),
        Parsed::Messages(head) | Parsed::CountTokens(head) if same_format => {
            head.upstream_body(model).map(Bytes::from)
        }
        Parsed::CountTokens(_) => {
            let canonical = request.count_request()?;
            return match codec.count_tokens_request(&canonical, model) {
                Some(count) => Ok(ProviderBody::Upstream(count?)),
                None => {
                    let count = crate::tokens::count_chat_prompt(model, &canonical);
                    let answer = serde_json::json!({ "input_tokens": count });
                    Ok(ProviderBody::Local(Bytes::from(answer.to_string())))
                }
            };
        }
        Parsed::Chat(_) | Parsed::Messages(_) => {
            let canonical = request.canonical()?;
            let chat = ChatRequest::parse(&canonical)?;
            let openai = match chat.upstream_body(model, ask_usage) {
                Some(rewritten) => Bytes::from(rewritten),
                None => canonical.clone(),
            };
            return Ok(ProviderBody::Upstream(codec.request(openai)?));
        }
    };
    Ok(ProviderBody::Upstream(
        body.unwrap_or_else(|| request.body.clone()),
    ))
}
