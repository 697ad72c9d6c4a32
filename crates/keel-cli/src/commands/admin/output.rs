//! How admin answers are printed: the JSON as the API sent it with
//! `--json`, otherwise aligned columns for people.

use std::io::Write;

use serde_json::Value;

/// Prints `value` as JSON.
pub fn json(value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    line(&text)
}

/// Prints one line to stdout.
pub fn line(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| format!("cannot write to stdout: {e}"))
}

/// Prints rows of `columns` (JSON field names) as an aligned table.
pub fn table(rows: &[Value], columns: &[&str]) -> Result<(), String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(&row[*c])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let render = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    line(&render(columns.iter().map(|c| c.to_uppercase()).collect()))?;
    for row in cells {
        line(&render(row))?;
    }
    Ok(())
}

/// Rows as CSV with a header line.
pub fn csv(rows: &[Value], columns: &[&str]) -> Result<(), String> {
    line(&columns.join(","))?;
    for row in rows {
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                let v = cell(&row[*c]);
                if v.contains([',', '"', '\n']) {
                    format!("\"{}\"", v.replace('"', "\"\""))
                } else {
                    v
                }
            })
            .collect();
        line(&values.join(","))?;
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(map) if map.is_empty() => "-".to_owned(),
        other => other.to_string(),
    }
}
