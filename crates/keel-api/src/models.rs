//! The OpenAI model list (`GET /v1/models`), both as Keel serves it and as an
//! upstream reports it for discovery.

use serde::{Deserialize, Serialize};

/// One entry of a model list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    #[serde(default = "model_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub owned_by: String,
}

fn model_object() -> String {
    "model".to_owned()
}

/// `{"object":"list","data":[…]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelList {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<ModelEntry>,
}

fn list_object() -> String {
    "list".to_owned()
}

impl ModelList {
    /// A list of `ids`, each owned by `owner`.
    pub fn new(entries: Vec<ModelEntry>) -> Self {
        ModelList {
            object: list_object(),
            data: entries,
        }
    }
}

/// Reads an upstream's model list; tolerates missing optional fields.
pub fn parse_model_ids(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    let list: ModelList = serde_json::from_slice(body)?;
    Ok(list.data.into_iter().map(|m| m.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_llama_cpp_and_openai_lists() {
        let ids = parse_model_ids(
            br#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1686935002,"owned_by":"openai"},{"id":"smollm2"}]}"#,
        )
        .unwrap();
        assert_eq!(ids, vec!["gpt-4o", "smollm2"]);
        assert!(parse_model_ids(b"[]").is_err());
    }

    #[test]
    fn serialises_the_documented_shape() {
        let list = ModelList::new(vec![ModelEntry {
            id: "m".into(),
            object: "model".into(),
            created: 1,
            owned_by: "fake".into(),
        }]);
        let v = serde_json::to_value(&list).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["object"], "model");
        assert_eq!(v["data"][0]["owned_by"], "fake");
    }
}
