//! The model list in Anthropic's shape (`GET /v1/models` as the Anthropic
//! SDK's `models.list()` reads it), for clients that send
//! `anthropic-version`.

use serde_json::{json, Value};

/// `{"data": [{"type": "model", "id", "display_name", "created_at"}],
/// "has_more": false, "first_id", "last_id"}` for `ids`, in order. Keel
/// knows no release dates: `created_at` is the Unix epoch.
pub fn model_list<'a>(ids: impl IntoIterator<Item = &'a str>) -> Value {
    let data: Vec<Value> = ids
        .into_iter()
        .map(|id| {
            json!({"type": "model", "id": id, "display_name": id,
                "created_at": "1970-01-01T00:00:00Z"})
        })
        .collect();
    let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_anthropics_shape() {
        let list = model_list(["a", "b"]);
        assert_eq!(list["data"][1]["type"], "model");
        assert_eq!(list["data"][1]["id"], "b");
        assert_eq!(
            (&list["first_id"], &list["last_id"]),
            (&json!("a"), &json!("b"))
        );
        assert_eq!(list["has_more"], false);
        assert_eq!(model_list([])["first_id"], Value::Null);
    }
}
