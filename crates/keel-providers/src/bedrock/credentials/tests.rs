use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn settings() -> BedrockSettings {
    BedrockSettings::new("bedrock", "us-east-1")
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

fn keys(auth: Auth) -> (String, String, Option<String>) {
    match auth {
        Auth::SigV4(c) => (
            c.access_key_id,
            c.secret_access_key.expose_secret().to_owned(),
            c.session_token.map(|t| t.expose_secret().to_owned()),
        ),
        Auth::ApiKey(k) => ("bearer".into(), k.expose_secret().to_owned(), None),
        Auth::Remote(source) => ("remote".into(), source.describe(), None),
    }
}

/// A credentials file in a fresh temporary directory.
fn credentials_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("keel-bedrock-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

const FILE: &str = "\
# comment
[default] ; the default profile
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default/secret+key

[dev]
aws_access_key_id=AKIDDEV
aws_secret_access_key=devsecret
aws_session_token = devtoken
[broken]
aws_access_key_id = AKIDONLY
";

#[test]
fn settings_come_first_then_the_bearer_token_then_env_keys() {
    let mut s = settings();
    s.access_key_id = Some("AKIDSET".into());
    s.secret_access_key = Some(SecretString::from("setsecret"));
    s.session_token = Some(SecretString::from("settoken"));
    let all = env(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        (BEARER_TOKEN_ENV, "bedrock-api-key"),
    ]);
    assert_eq!(
        keys(load_auth(&s, &all).unwrap()),
        (
            "AKIDSET".into(),
            "setsecret".into(),
            Some("settoken".into())
        )
    );
    s.api_key = Some(SecretString::from("configured-key"));
    assert_eq!(keys(load_auth(&s, &all).unwrap()).1, "configured-key");
    assert_eq!(
        keys(load_auth(&settings(), &all).unwrap()),
        ("bearer".into(), "bedrock-api-key".into(), None)
    );
    let no_bearer = env(&[
        ("AWS_ACCESS_KEY_ID", "AKIDENV"),
        ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ("AWS_SESSION_TOKEN", "envtoken"),
    ]);
    assert_eq!(
        keys(load_auth(&settings(), &no_bearer).unwrap()),
        (
            "AKIDENV".into(),
            "envsecret".into(),
            Some("envtoken".into())
        )
    );
}

#[test]
fn half_a_key_pair_is_an_error() {
    let mut s = settings();
    s.access_key_id = Some("AKID".into());
    assert!(load_auth(&s, &env(&[])).is_err());
    assert!(load_credentials(&settings(), &env(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_err());
}

#[test]
fn the_shared_file_supplies_the_chosen_profile() {
    let path = credentials_file("profiles", FILE);
    let base = [("AWS_SHARED_CREDENTIALS_FILE", path.as_str())];
    assert_eq!(
        keys(load_auth(&settings(), &env(&base)).unwrap()),
        ("AKIDDEFAULT".into(), "default/secret+key".into(), None)
    );
    let with_profile = env(&[base[0], ("AWS_PROFILE", "dev")]);
    assert_eq!(
        keys(load_auth(&settings(), &with_profile).unwrap()),
        (
            "AKIDDEV".into(),
            "devsecret".into(),
            Some("devtoken".into())
        )
    );
    let mut s = settings();
    s.profile = Some("dev".into());
    assert_eq!(keys(load_auth(&s, &env(&base)).unwrap()).0, "AKIDDEV");
    s.profile = Some("broken".into());
    assert!(load_auth(&s, &env(&base)).unwrap_err().contains("[broken]"));
    s.profile = Some("missing".into());
    assert!(load_auth(&s, &env(&base))
        .unwrap_err()
        .contains("no [missing] profile"));
}

#[test]
fn the_default_file_lives_in_the_home_directory() {
    let path = credentials_file("home", FILE);
    let dir = std::path::Path::new(&path)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let aws = std::path::Path::new(&dir).join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(aws.join("credentials"), FILE).unwrap();
    assert_eq!(
        keys(load_auth(&settings(), &env(&[("HOME", dir.as_str())])).unwrap()).0,
        "AKIDDEFAULT"
    );
}

#[test]
fn nothing_static_falls_back_to_the_network_sources() {
    let no_imds = ("AWS_EC2_METADATA_DISABLED", "true");
    let err = load_auth(
        &settings(),
        &env(&[("HOME", "/nonexistent-keel-home"), no_imds]),
    )
    .unwrap_err();
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains(BEARER_TOKEN_ENV));
    let err = load_auth(&settings(), &env(&[no_imds])).unwrap_err();
    assert!(err.contains("no AWS credentials found"), "{err}");
    // Without the opt-out, the instance metadata service is asked last…
    let (kind, source, _) = keys(load_auth(&settings(), &env(&[])).unwrap());
    assert_eq!(kind, "remote");
    assert!(source.contains("169.254.169.254"), "{source}");
    // …and a container endpoint before it.
    let (_, source, _) = keys(
        load_auth(
            &settings(),
            &env(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c")]),
        )
        .unwrap(),
    );
    assert!(source.contains("http://127.0.0.1:1/c"), "{source}");
    // A broken static source is an error, not a reason to look further.
    assert!(load_auth(&settings(), &env(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_err());
}

#[test]
fn debug_output_hides_secrets() {
    let auth = load_auth(
        &settings(),
        &env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "hush"),
        ]),
    )
    .unwrap();
    let text = format!("{auth:?}");
    assert!(text.contains("AKID") && !text.contains("hush"), "{text}");
}
