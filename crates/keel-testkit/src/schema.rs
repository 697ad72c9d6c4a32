//! Default values built from a JSON Schema, for structured outputs and tool
//! call arguments that validate against what the client asked for.

use serde_json::{Map, Value};

/// A value of the schema's type: `"fake"` for strings, `0` for numbers,
/// `false` for booleans, `[]` for arrays, `null` for null, the first entry of
/// an `enum`/the `const`, and for objects every `required` property filled
/// the same way. Unknown schemas give `"fake"`.
pub fn default_for(schema: &Value) -> Value {
    default_at(schema, 0)
}

fn default_at(schema: &Value, depth: usize) -> Value {
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(first) = ["anyOf", "oneOf", "allOf"]
        .iter()
        .find_map(|k| schema.get(*k).and_then(Value::as_array))
        .and_then(|alts| alts.first())
    {
        return default_at(first, depth + 1);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" if depth < 8 => object_default(schema, depth),
        "object" => Value::Object(Map::new()),
        "integer" | "number" => Value::from(0),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "null" => Value::Null,
        _ => Value::String("fake".to_owned()),
    }
}

/// An object with each `required` property of `schema` set to its default,
/// whatever `schema` says its own type is (tool `parameters` may omit it).
pub fn object_for(schema: &Value) -> Value {
    object_default(schema, 0)
}

/// An object with each `required` property set to its default.
fn object_default(schema: &Value, depth: usize) -> Value {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Map::new();
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let prop = props.get(name).unwrap_or(&Value::Null);
        out.insert(name.to_owned(), default_at(prop, depth + 1));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_required_properties_by_type() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
                "optional": {"type": "string"}
            },
            "required": ["city", "days", "metric", "tags", "unit", "where"]
        });
        assert_eq!(
            default_for(&schema),
            json!({"city": "fake", "days": 0, "metric": false, "tags": [], "unit": "c", "where": {"lat": 0}})
        );
    }
}
