//! Delivering a whole answer: checked to be what the provider's format
//! promises, passed back as the provider's bytes when the client speaks
//! its format, translated otherwise, then recorded.

use bytes::Bytes;
use keel_api::assemble::{summarize_response, summarize_value, ResponseSummary};
use keel_api::{ApiError, ErrorKind};
use keel_providers::Operation;

use super::ending::{self, Failure, Reply};
use crate::ingress::Ingress;
use crate::invocation::{Answer, Call, CallGuard, Ending};

/// Answers with the provider's successful answer, after recording it.
pub async fn answer(call: CallGuard, status: u16, body: Bytes) -> Reply {
    let (reply, summary) = match read_answer(&call, &body) {
        Ok(answer) => answer,
        Err(err) => return ending::fail(call, Failure::from(err)).await,
    };
    let id = call.id;
    let answer = Answer::Body {
        // A copy of exactly the body: the response's own buffer may be a
        // slice of a much larger read buffer, pinned while queued.
        body: Bytes::copy_from_slice(&body),
        summary: Some(summary),
    };
    let ending = Ending::ok(status, answer, call.started, true);
    let headers = ending::headers_of(&call.rate_headers);
    call.record(ending).await;
    ending::json(status, reply, id, headers)
}

/// Answers with a body Keel produced itself (a local token count), after
/// recording it.
pub async fn answer_locally(call: CallGuard, body: Bytes) -> Reply {
    let id = call.id;
    let answer = Answer::Body {
        body: body.clone(),
        summary: None,
    };
    let ending = Ending::ok(200, answer, call.started, false);
    let headers = ending::headers_of(&call.rate_headers);
    call.record(ending).await;
    ending::json(200, body, id, headers)
}

/// A provider's successful answer: what the client gets (in its format) and
/// the record's summary of it.
fn read_answer(call: &Call, body: &Bytes) -> Result<(Bytes, ResponseSummary), ApiError> {
    let provider = call.provider_name();
    let malformed = || {
        ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}' returned a response that is not valid JSON of the expected shape"),
        )
    };
    let Some(codec) = call.codec() else {
        return Err(ending::internal("an answer came without a provider"));
    };
    let same_format = call.ingress.speaks(codec);
    if call.operation == Operation::CountTokens {
        // A count, in Anthropic's `{"input_tokens": n}`: nothing to bill.
        if same_format {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| malformed())?;
            return Ok((body.clone(), ResponseSummary::default()));
        }
        let count = codec.count_tokens_answer(body).ok_or_else(malformed)?;
        let reply = serde_json::json!({ "input_tokens": count }).to_string();
        return Ok((Bytes::from(reply), ResponseSummary::default()));
    }
    if same_format && call.ingress == Ingress::OpenAi {
        // The common case reads only what the record needs.
        let summary = summarize_response(body).ok_or_else(malformed)?;
        return Ok((body.clone(), summary));
    }
    let requested = call.requested_model.as_deref().unwrap_or_default();
    let answer = codec.answer(body, requested).map_err(|e| match e.kind {
        ErrorKind::UpstreamMalformed => ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}': {}", e.message),
        ),
        _ => e,
    })?;
    let mut summary = summarize_value(&answer.openai).ok_or_else(malformed)?;
    if answer.raw_usage.is_some() {
        summary.raw_usage = answer.raw_usage;
    }
    let reply = match same_format {
        // Same format: the provider's own bytes.
        true => body.clone(),
        false => call.ingress.answer_body(&answer.openai, requested)?,
    };
    Ok((reply, summary))
}
