//! JSON text columns of the governance tables.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value as the column's text.
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// An optional value as nullable text.
pub fn json_opt<T: Serialize>(value: Option<&T>) -> Option<String> {
    value.map(json)
}

/// A column's text as its value; text Keel did not write (edited by hand)
/// reads as the default rather than making the whole directory unreadable.
pub fn parse<T: DeserializeOwned + Default>(text: String) -> T {
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "a governance column is not valid JSON; read as empty");
            T::default()
        }
    }
}
