use std::time::{Duration, UNIX_EPOCH};

use super::*;
use secrecy::SecretString;

/// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// The AWS SigV4 test suite's credentials.
fn suite_credentials(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: token.map(SecretString::from),
    }
}

fn header<'a>(signed: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    signed
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// `post-vanilla` of the AWS signing test suite (the CRT suite shipped in
/// the aws-sigv4 crate, `aws-signing-test-suite/v4/post-vanilla`).
#[test]
fn signs_the_post_vanilla_test_vector() {
    let signer = sign::Signer::new(&suite_credentials(None), "us-east-1", "service");
    let signed = signer
        .sign(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            suite_time(),
        )
        .unwrap();
    assert_eq!(header(&signed, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(
        header(&signed, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        )
    );
    assert_eq!(header(&signed, "x-amz-security-token"), None);
}

/// `get-vanilla-with-session-token` of the same suite: the token is sent and
/// signed.
#[test]
fn signs_the_session_token_test_vector() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let signer = sign::Signer::new(&suite_credentials(Some(token)), "us-east-1", "service");
    let signed = signer
        .sign(
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            suite_time(),
        )
        .unwrap();
    assert_eq!(header(&signed, "x-amz-security-token"), Some(token));
    assert_eq!(
        header(&signed, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
}

fn provider(settings: BedrockSettings, auth: Auth) -> BedrockProvider {
    BedrockProvider::new(settings, auth).unwrap()
}

fn chat<'a>(model: &'a str, stream: bool, headers: &'a HeaderMap) -> CallSpec<'a> {
    CallSpec {
        operation: Operation::ChatCompletions,
        upstream_model: model,
        stream,
        client_headers: headers,
    }
}

#[test]
fn urls_encode_the_model_and_pick_the_operation() {
    let p = provider(
        BedrockSettings::new("b", "eu-west-3"),
        Auth::ApiKey(SecretString::from("k")),
    );
    assert_eq!(
        p.url("anthropic.claude-3-5-sonnet-20240620-v1:0", false),
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(
        p.url("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x y", true),
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x%20y/converse-stream"
    );
    let mut s = BedrockSettings::new("b", "us-east-1");
    s.base_url = Some("http://127.0.0.1:9/prefix/".into());
    let p = provider(s, Auth::ApiKey(SecretString::from("k")));
    assert_eq!(
        p.url("m", true),
        "http://127.0.0.1:9/prefix/model/m/converse-stream"
    );
}

#[test]
fn sigv4_headers_have_the_bedrock_scope() {
    let p = provider(
        BedrockSettings::new("b", "us-west-2"),
        Auth::SigV4(suite_credentials(Some("session-token"))),
    );
    let headers = HeaderMap::new();
    let req = p
        .request_at(
            chat("amazon.nova-lite-v1:0", true, &headers),
            Bytes::from_static(b"{}"),
            suite_time(),
        )
        .unwrap();
    assert_eq!(req.method, Method::POST);
    assert!(req
        .url
        .ends_with("/model/amazon.nova-lite-v1%3A0/converse-stream"));
    assert_eq!(req.headers[CONTENT_TYPE], "application/json");
    assert_eq!(req.headers["x-amz-date"], "20150830T123600Z");
    assert_eq!(req.headers["x-amz-security-token"], "session-token");
    let auth = req.headers[AUTHORIZATION].to_str().unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/bedrock/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ),
        "{auth}"
    );
    let signature = auth.rsplit("Signature=").next().unwrap();
    assert_eq!(signature.len(), 64);
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(req.headers[AUTHORIZATION].is_sensitive());
    // The body is part of the signature.
    let other = p
        .request_at(
            chat("amazon.nova-lite-v1:0", true, &headers),
            Bytes::from_static(b"{ }"),
            suite_time(),
        )
        .unwrap();
    assert_ne!(other.headers[AUTHORIZATION], req.headers[AUTHORIZATION]);
}

#[test]
fn api_keys_are_bearer_tokens() {
    let p = provider(
        BedrockSettings::new("b", "us-east-1"),
        Auth::ApiKey(SecretString::from("ABSKexample")),
    );
    let headers = HeaderMap::new();
    let req = p.request(chat("m", false, &headers), Bytes::new()).unwrap();
    assert_eq!(req.headers[AUTHORIZATION], "Bearer ABSKexample");
    assert!(req.headers[AUTHORIZATION].is_sensitive());
    assert!(req.headers.get("x-amz-date").is_none());
}

#[test]
fn embeddings_and_model_lists_are_not_served() {
    let p = provider(
        BedrockSettings::new("b", "us-east-1"),
        Auth::ApiKey(SecretString::from("k")),
    );
    let headers = HeaderMap::new();
    let call = CallSpec {
        operation: Operation::Embeddings,
        ..chat("m", false, &headers)
    };
    assert!(p.request(call, Bytes::new()).is_err());
    assert!(p.models_request().is_none());
    assert!(p.parse_models(b"{}").is_err());
    assert_eq!(p.codec().format(), crate::WireFormat::Bedrock);
    assert_eq!(p.codec().framing(), crate::StreamFraming::AwsEventStream);
}

#[test]
fn bad_regions_and_urls_are_refused() {
    let key = || Auth::ApiKey(SecretString::from("k"));
    assert!(BedrockProvider::new(BedrockSettings::new("b", ""), key()).is_err());
    assert!(BedrockProvider::new(BedrockSettings::new("b", "us east"), key()).is_err());
    for url in ["not a url", "ftp://x", "/relative", "http://h/?q=1"] {
        let mut s = BedrockSettings::new("b", "us-east-1");
        s.base_url = Some(url.into());
        assert!(BedrockProvider::new(s, key()).is_err(), "{url}");
    }
    assert!(BedrockProvider::new(
        BedrockSettings::new("b", "us-east-1"),
        Auth::ApiKey(SecretString::from("bad\nkey"))
    )
    .is_err());
}

#[test]
fn fetched_credentials_sign_once_they_arrive() {
    let source = RemoteSource::InstanceMetadata {
        endpoint: "http://imds.test".into(),
    };
    let p = provider(
        BedrockSettings::new("bedrock", "us-east-1"),
        Auth::Remote(source.clone()),
    );
    assert_eq!(p.remote_source(), Some(&source));
    let headers = HeaderMap::new();
    let err = p
        .request(chat("m", false, &headers), Bytes::new())
        .unwrap_err();
    assert!(err.to_string().contains("not been fetched"), "{err}");
    p.set_credentials(&suite_credentials(Some("session")));
    let req = p.request(chat("m", false, &headers), Bytes::new()).unwrap();
    assert!(req.headers[AUTHORIZATION]
        .to_str()
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
    assert_eq!(req.headers["x-amz-security-token"], "session");
}
