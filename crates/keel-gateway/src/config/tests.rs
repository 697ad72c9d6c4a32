use std::path::Path;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "SET_KEY" => Some("sk-test".into()),
        "OPENAI_API_KEY" => None,
        _ => None,
    }
}

/// Each `cases/<name>.toml` must fail with the text in `cases/<name>.expected`
/// (with the file named `keel.toml`), or load when that file is absent.
#[test]
fn config_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/cases");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let expected_path = path.with_extension("expected");
        let result = load(Some(&path), Overrides::default(), &env);
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) => {
                let err = result.expect_err(&format!("{} should fail", path.display()));
                let shown = err
                    .to_string()
                    .replace(&path.display().to_string(), "keel.toml");
                assert_eq!(shown, expected.trim(), "{}", path.display());
            }
            Err(_) => {
                result.unwrap_or_else(|e| panic!("{} should load: {e}", path.display()));
            }
        }
    }
    assert!(seen >= 8, "the cases directory holds the config cases");
}

#[test]
fn full_config_values_arrive() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/cases");
    let c = load(
        Some(&dir.join("valid_full.toml")),
        Overrides::default(),
        &env,
    )
    .unwrap();
    assert_eq!(c.port, 4100);
    assert_eq!(c.max_body_bytes, 2048);
    assert_eq!(c.writer.durability, keel_store::Durability::Sync);
    assert_eq!(c.executor.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.providers.len(), 2);
    assert_eq!(
        c.providers[0].models,
        vec!["gpt-4o".to_owned(), "gpt-4o-mini".to_owned()]
    );
    assert!(matches!(
        c.providers[1].kind,
        ProviderKind::OpenAi(Flavor::Azure { .. })
    ));
    assert_eq!(
        c.providers[1].models,
        vec!["gpt-4o".to_owned()],
        "Azure deployments are models"
    );
    assert_eq!(c.prices["my-model"].output, 2.0);
}

#[test]
fn flags_win_over_the_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/cases");
    let overrides = Overrides {
        port: Some(5000),
        durability: Some("batched".into()),
        ..Default::default()
    };
    let c = load(Some(&dir.join("valid_full.toml")), overrides, &env).unwrap();
    assert_eq!(c.port, 5000);
    assert_eq!(c.writer.durability, keel_store::Durability::Batched);
}

#[test]
fn zero_config_uses_openai_env() {
    let env = |name: &str| match name {
        "OPENAI_API_KEY" => Some("sk-live".to_owned()),
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
        _ => None,
    };
    let c = load(None, Overrides::default(), &env).unwrap();
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].name, "openai");
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:9/v1");
    assert!(c.providers[0].discover);
    assert_eq!(c.port, 4000);
    assert_eq!(c.data_dir, std::path::PathBuf::from("keel-data"));

    let none = load(None, Overrides::default(), &|_| None).unwrap();
    assert!(
        none.providers.is_empty(),
        "no key, no provider: serve and say so on /health/ready"
    );
}

#[test]
fn vendor_kinds_default_to_their_own_api_roots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/cases");
    let c = load(
        Some(&dir.join("native_kinds.toml")),
        Overrides::default(),
        &env,
    )
    .unwrap();
    let urls: Vec<&str> = c.providers.iter().map(|p| p.base_url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "https://api.anthropic.com",
            "https://generativelanguage.googleapis.com",
            "https://bedrock-runtime.us-west-2.amazonaws.com"
        ]
    );
    assert!(matches!(
        &c.providers[0].kind,
        ProviderKind::Anthropic { version } if version == "2023-06-01"
    ));
    assert!(matches!(
        &c.providers[2].kind,
        ProviderKind::Bedrock { region, access_key_id: Some(_), .. } if region == "us-west-2"
    ));
}
