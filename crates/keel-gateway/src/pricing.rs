//! The price catalog: list prices shipped with Keel (`data/prices.json`),
//! overridden or extended per model by `[prices."model"]` in `keel.toml`.

use std::collections::HashMap;

use keel_api::Usage;
use serde::Deserialize;

use crate::config::RawPrice;

/// USD per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cache-read input tokens; the input price when absent.
    #[serde(default)]
    pub cached_input: Option<f64>,
    /// Anthropic cache writes; used when the provider reports them.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

impl Price {
    /// The cost of `usage` in USD: cache reads and cache writes at their
    /// own prices (the input price when the catalog has none), the rest of
    /// the input and the output at theirs.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached_tokens.min(usage.input_tokens);
        let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
        let plain = usage.input_tokens - cached - written;
        let per_token = |per_million: f64, tokens: u64| per_million * tokens as f64 / 1_000_000.0;
        per_token(self.input, plain)
            + per_token(self.cached_input.unwrap_or(self.input), cached)
            + per_token(self.cache_write.unwrap_or(self.input), written)
            + per_token(self.output, usage.output_tokens)
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    models: HashMap<String, Price>,
}

/// The shipped catalog, compiled in so `keel serve` needs no other file.
const SHIPPED: &str = include_str!("../data/prices.json");

/// Prices by model name.
#[derive(Debug, Clone, Default)]
pub struct PriceCatalog {
    prices: HashMap<String, Price>,
}

impl PriceCatalog {
    /// The shipped catalog with `overrides` from the config on top.
    pub fn load<'a>(
        overrides: impl IntoIterator<Item = (&'a String, &'a RawPrice)>,
    ) -> Result<Self, String> {
        let file: CatalogFile = serde_json::from_str(SHIPPED)
            .map_err(|e| format!("the shipped price catalog is invalid: {e}"))?;
        let mut prices = file.models;
        for (model, p) in overrides {
            prices.insert(
                model.clone(),
                Price {
                    input: p.input,
                    output: p.output,
                    cached_input: p.cached_input,
                    cache_write: p.cache_write,
                },
            );
        }
        Ok(PriceCatalog { prices })
    }

    /// The price of the first name that has one: callers pass the most
    /// specific name first (requested, upstream model, reported version).
    /// A Bedrock model id (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`)
    /// is priced as the vendor's own model id when it has no price itself.
    pub fn find<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<Price> {
        names.into_iter().find_map(|n| {
            self.prices
                .get(n)
                .or_else(|| bedrock_vendor_id(n).and_then(|id| self.prices.get(id)))
                .copied()
        })
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

/// The vendor's model id inside a Bedrock model id: without the
/// cross-region prefix (`us.`, `eu.`, `apac.`, `global.`…), the provider
/// prefix (`anthropic.`, `meta.`…) and the version suffix (`-v1:0`).
fn bedrock_vendor_id(id: &str) -> Option<&str> {
    const REGIONS: [&str; 8] = ["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];
    let id = match id.split_once('.') {
        Some((region, rest)) if REGIONS.contains(&region) => rest,
        _ => id,
    };
    let (provider, model) = id.split_once('.')?;
    let is_provider = !provider.is_empty()
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !is_provider {
        return None;
    }
    let version = model.rfind("-v").filter(|&i| {
        let suffix = &model[i + 2..];
        !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit() || b == b':')
    });
    Some(version.map_or(model, |i| &model[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::TokenSource;

    #[test]
    fn bedrock_ids_are_priced_as_the_vendors_model() {
        let c = PriceCatalog::load([]).unwrap();
        let direct = c.find(["claude-sonnet-4-5-20250929"]).unwrap();
        for id in [
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1",
        ] {
            assert_eq!(c.find([id]), Some(direct), "{id}");
        }
        assert_eq!(bedrock_vendor_id("gpt-4o"), None);
        assert_eq!(bedrock_vendor_id("gemini-2.5-flash"), None);
        assert!(c.find(["us.anthropic.no-such-model-v1:0"]).is_none());
    }

    #[test]
    fn shipped_catalog_loads_and_covers_the_big_three() {
        let c = PriceCatalog::load([]).unwrap();
        assert!(c.len() > 30);
        assert!(c.find(["gpt-4o"]).is_some());
        assert!(
            c.find(["claude-sonnet-4-5"]).is_some()
                || c.find(["claude-sonnet-4-5-20250929"]).is_some()
        );
        assert!(c.find(["gemini-2.5-flash"]).is_some());
    }

    #[test]
    fn overrides_win_and_first_name_with_a_price_is_used() {
        let mine = RawPrice {
            input: 1.0,
            output: 2.0,
            cached_input: Some(0.5),
            cache_write: None,
        };
        let name = "gpt-4o".to_owned();
        let c = PriceCatalog::load([(&name, &mine)]).unwrap();
        assert_eq!(c.find(["unknown", "gpt-4o"]).unwrap().input, 1.0);
        assert!(c.find(["nope"]).is_none());
    }

    #[test]
    fn cost_splits_cached_input() {
        let p = Price {
            input: 2.0,
            output: 8.0,
            cached_input: Some(0.5),
            cache_write: None,
        };
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
            cached_tokens: 400_000,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            source: TokenSource::Provider,
        };
        // 600k × $2 + 400k × $0.5 + 500k × $8 = 1.2 + 0.2 + 4.0
        assert!((p.cost(&usage) - 5.4).abs() < 1e-9);
    }

    #[test]
    fn cache_writes_cost_their_own_price() {
        let p = Price {
            input: 3.0,
            output: 15.0,
            cached_input: Some(0.3),
            cache_write: Some(3.75),
        };
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 0,
            cached_tokens: 500_000,
            cache_write_tokens: 250_000,
            reasoning_tokens: 0,
            source: TokenSource::Provider,
        };
        // 250k × $3 + 500k × $0.3 + 250k × $3.75
        assert!((p.cost(&usage) - (0.75 + 0.15 + 0.9375)).abs() < 1e-9);
        let unpriced = Price {
            cache_write: None,
            ..p
        };
        // Without a cache-write price, writes cost as plain input.
        assert!((unpriced.cost(&usage) - (0.75 + 0.15 + 0.75)).abs() < 1e-9);
    }
}
