//! Why a call failed, as the record names it, and how it ended from the
//! operator's point of view. Both are decided here and nowhere else.

use keel_api::ErrorKind;
use keel_store::Outcome;

/// The record's `error_class`: every way a call can fail. Keel's own
/// errors are their [`ErrorKind`]; the rest come from the upstream or the
/// client after the call was under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// An error Keel answered with itself.
    Kind(ErrorKind),
    /// The upstream answered with an error status.
    UpstreamStatus,
    /// The upstream reported an error inside a stream that then completed.
    UpstreamStreamError,
    /// The client left before its answer was handed over.
    ClientDisconnected,
}

impl ErrorClass {
    /// The stable, greppable name stored in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Kind(kind) => kind.class(),
            ErrorClass::UpstreamStatus => "upstream_status",
            ErrorClass::UpstreamStreamError => "upstream_stream_error",
            ErrorClass::ClientDisconnected => "client_disconnected",
        }
    }

    /// How a call that failed this way ended, given the status the client
    /// got. An upstream's 4xx other than 429 is the caller's to fix.
    pub fn outcome(self, status: u16) -> Outcome {
        match self {
            ErrorClass::Kind(
                ErrorKind::InvalidRequest
                | ErrorKind::Unauthorized
                | ErrorKind::Forbidden
                | ErrorKind::RateLimited
                | ErrorKind::BudgetExceeded
                | ErrorKind::Conflict
                | ErrorKind::UnknownModel
                | ErrorKind::NotFound
                | ErrorKind::MethodNotAllowed
                | ErrorKind::BodyTooLarge
                | ErrorKind::RequestTimeout,
            ) => Outcome::ClientError,
            ErrorClass::UpstreamStatus if (400..500).contains(&status) && status != 429 => {
                Outcome::ClientError
            }
            ErrorClass::UpstreamStatus
            | ErrorClass::UpstreamStreamError
            | ErrorClass::Kind(
                ErrorKind::UpstreamConnect
                | ErrorKind::UpstreamTimeout
                | ErrorKind::UpstreamMalformed
                | ErrorKind::StreamCut,
            ) => Outcome::UpstreamError,
            ErrorClass::ClientDisconnected => Outcome::ClientDisconnected,
            ErrorClass::Kind(ErrorKind::Internal | ErrorKind::Unavailable) => {
                Outcome::InternalError
            }
        }
    }
}

impl From<ErrorKind> for ErrorClass {
    fn from(kind: ErrorKind) -> ErrorClass {
        ErrorClass::Kind(kind)
    }
}

/// How a call ended: the class of its failure (none for a success) decides,
/// unless the client left first.
pub fn outcome(status: u16, error: Option<ErrorClass>, client_gone: bool) -> Outcome {
    match error {
        _ if client_gone => Outcome::ClientDisconnected,
        None => Outcome::Ok,
        Some(class) => class.outcome(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_class_and_status() {
        assert_eq!(outcome(200, None, false), Outcome::Ok);
        assert_eq!(outcome(200, None, true), Outcome::ClientDisconnected);
        let status = Some(ErrorClass::UpstreamStatus);
        assert_eq!(outcome(400, status, false), Outcome::ClientError);
        assert_eq!(outcome(429, status, false), Outcome::UpstreamError);
        assert_eq!(outcome(502, status, false), Outcome::UpstreamError);
        let internal = Some(ErrorClass::Kind(ErrorKind::Internal));
        assert_eq!(outcome(500, internal, false), Outcome::InternalError);
        let kind = ErrorClass::from(ErrorKind::BodyTooLarge);
        assert_eq!(kind.as_str(), ErrorKind::BodyTooLarge.class());
        assert_eq!(outcome(413, Some(kind), false), Outcome::ClientError);
    }
}
