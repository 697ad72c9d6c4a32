//! Observers of a stream's OpenAI chunks, one small type each: progress
//! (first event, finish reasons, errors, the usage-only chunk) and capture
//! for the record. Each chunk is probed once and shown to every observer;
//! an output guard joins them here.

use std::time::Instant;

use bytes::Bytes;
use keel_api::{ApiError, ErrorKind};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::invocation::Captured;

/// Most stream payload bytes kept for the record; beyond it the assembled
/// response is partial but the usage (last event) is still read.
const MAX_KEPT_BYTES: usize = 8 << 20;

/// The parts of a chunk the observers look at.
#[derive(Deserialize)]
pub struct ChunkProbe {
    #[serde(default)]
    choices: Vec<ChoiceProbe>,
    #[serde(default)]
    usage: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoiceProbe {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

impl ChunkProbe {
    /// Reads a chunk payload; one that is not JSON ends the stream.
    pub fn read(data: &[u8]) -> Result<ChunkProbe, ApiError> {
        serde_json::from_slice(data).map_err(|_| {
            ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent a stream event that is not valid JSON",
            )
        })
    }

    /// A chunk that carries only the usage.
    fn usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage.is_some()
    }
}

/// How far the answer has come: when it started, which choices finished,
/// whether the provider reported an error.
pub struct Progress {
    pub first_event: Option<Instant>,
    finished_choices: Vec<u32>,
    expected_choices: u32,
    /// The message of an error the provider reported inside the stream.
    pub upstream_error: Option<String>,
    /// Drop the usage-only chunk Keel asked for on the client's behalf.
    hide_usage: bool,
}

impl Progress {
    /// Watches for `choices` choices; hides the usage chunk unless the
    /// client asked for it.
    pub fn new(choices: u32, include_usage: bool) -> Progress {
        Progress {
            first_event: None,
            finished_choices: Vec::new(),
            expected_choices: choices,
            upstream_error: None,
            hide_usage: !include_usage,
        }
    }

    /// Notes one chunk; returns whether the client should see it.
    pub fn see(&mut self, probe: &ChunkProbe) -> bool {
        if self.first_event.is_none() {
            self.first_event = Some(Instant::now());
        }
        if let Some(error) = &probe.error {
            let message = error
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("stream error");
            self.upstream_error = Some(message.to_owned());
        }
        for choice in probe.choices.iter().filter(|c| c.finish_reason.is_some()) {
            if !self.finished_choices.contains(&choice.index) {
                self.finished_choices.push(choice.index);
            }
        }
        !(self.hide_usage && probe.usage_only())
    }

    /// Every choice reported a finish reason: a stream that ends without
    /// `[DONE]` is still whole.
    pub fn all_finished(&self) -> bool {
        self.finished_choices.len() >= self.expected_choices as usize
    }
}

/// The payloads kept for the record, bounded.
#[derive(Default)]
pub struct Capture {
    payloads: Captured,
}

impl Capture {
    /// Keeps a payload while under the bound, and always the usage.
    pub fn keep(&mut self, data: &Bytes, probe: &ChunkProbe) {
        if self.payloads.bytes() + data.len() <= MAX_KEPT_BYTES || probe.usage.is_some() {
            self.payloads.push(data);
        }
    }

    /// The payloads, handed to the record.
    pub fn take(&mut self) -> Captured {
        std::mem::take(&mut self.payloads)
    }
}
