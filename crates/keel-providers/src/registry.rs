//! Model names → providers. A name may be `provider/model`, or a bare model
//! name that one provider serves (the first provider in config order wins),
//! or an alias served by several candidates. A call gets a [`Plan`]: the
//! candidates to try, in order.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Provider;

/// Where a model name goes.
#[derive(Clone)]
pub struct Route {
    pub provider: Arc<dyn Provider>,
    /// The model id the upstream knows.
    pub upstream_model: Arc<str>,
}

/// The candidates that may serve one call, in the order the attempt loop
/// tries them. Shared, so planning a call allocates nothing.
#[derive(Clone)]
pub struct Plan(Arc<[Route]>);

impl Plan {
    /// A plan of these candidates, in this order.
    pub fn new(candidates: Vec<Route>) -> Plan {
        Plan(candidates.into())
    }

    /// The candidates, in order.
    pub fn candidates(&self) -> &[Route] {
        &self.0
    }
}

/// An immutable snapshot of which provider serves which model.
#[derive(Default, Clone)]
pub struct ModelRegistry {
    providers: Vec<Arc<dyn Provider>>,
    /// bare model name → index into `providers` (first provider wins)
    by_model: HashMap<Arc<str>, usize>,
    /// every (provider index, model) pair, in config order, for listings
    entries: Vec<(usize, Arc<str>)>,
    /// "provider/model" → entry, so the prefixed lookup is one hash probe
    by_qualified: HashMap<String, usize>,
    /// every name a call may ask for → its plan, built once
    plans: HashMap<Arc<str>, Plan>,
}

impl ModelRegistry {
    /// Adds a provider with the models it serves.
    pub fn add(&mut self, provider: Arc<dyn Provider>, models: &[String]) {
        let index = self.providers.len();
        for model in models {
            let model: Arc<str> = Arc::from(model.as_str());
            self.by_model.entry(model.clone()).or_insert(index);
            self.by_qualified
                .insert(format!("{}/{}", provider.name(), model), self.entries.len());
            self.entries.push((index, model));
        }
        self.providers.push(provider);
        for model in models {
            for name in [
                model.clone(),
                format!("{}/{model}", self.providers[index].name()),
            ] {
                if let Some(route) = self.resolve(&name) {
                    self.plans
                        .entry(Arc::from(name.as_str()))
                        .or_insert_with(|| Plan::new(vec![route]));
                }
            }
        }
    }

    /// Adds a name served by several candidates (`provider/model` or bare
    /// names, each resolved as a call would be), tried in the order given.
    /// Returns the names that resolve to nothing. Routing configuration
    /// builds its aliases with this.
    pub fn add_alias(&mut self, name: &str, targets: &[&str]) -> Result<(), Vec<String>> {
        let mut candidates = Vec::with_capacity(targets.len());
        let mut unknown = Vec::new();
        for target in targets {
            match self.resolve(target) {
                Some(route) => candidates.push(route),
                None => unknown.push((*target).to_owned()),
            }
        }
        if !unknown.is_empty() {
            return Err(unknown);
        }
        self.plans.insert(Arc::from(name), Plan::new(candidates));
        Ok(())
    }

    /// The plan for a requested model name: one hash probe, no allocation.
    pub fn plan(&self, requested: &str) -> Option<Plan> {
        self.plans.get(requested).cloned()
    }

    /// Resolves a requested model name.
    pub fn resolve(&self, requested: &str) -> Option<Route> {
        if let Some(&entry) = self.by_qualified.get(requested) {
            let (index, model) = &self.entries[entry];
            return Some(Route {
                provider: self.providers[*index].clone(),
                upstream_model: model.clone(),
            });
        }
        let (model, &index) = self.by_model.get_key_value(requested)?;
        Some(Route {
            provider: self.providers[index].clone(),
            upstream_model: model.clone(),
        })
    }

    /// Every (provider name, model) pair, in config order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(i, m)| (self.providers[*i].name(), m.as_ref()))
    }

    /// The providers, in config order.
    pub fn providers(&self) -> &[Arc<dyn Provider>] {
        &self.providers
    }

    /// Number of models served.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{Flavor, OpenAiProvider, OpenAiSettings};

    fn provider(name: &str) -> Arc<dyn Provider> {
        Arc::new(
            OpenAiProvider::new(OpenAiSettings {
                name: name.into(),
                base_url: format!("http://{name}.test/v1"),
                api_key: None,
                flavor: Flavor::OpenAi,
                headers: vec![],
                stream_usage: true,
            })
            .unwrap(),
        )
    }

    #[test]
    fn resolves_bare_and_qualified_names() {
        let mut r = ModelRegistry::default();
        r.add(provider("a"), &["m1".into(), "shared".into()]);
        r.add(provider("b"), &["shared".into(), "org/model".into()]);
        assert_eq!(r.resolve("m1").unwrap().provider.name(), "a");
        assert_eq!(
            r.resolve("shared").unwrap().provider.name(),
            "a",
            "first provider wins"
        );
        let b = r.resolve("b/shared").unwrap();
        assert_eq!(
            (b.provider.name(), b.upstream_model.as_ref()),
            ("b", "shared")
        );
        let slashed = r.resolve("org/model").unwrap();
        assert_eq!(
            (slashed.provider.name(), slashed.upstream_model.as_ref()),
            ("b", "org/model")
        );
        assert_eq!(
            r.resolve("b/org/model").unwrap().upstream_model.as_ref(),
            "org/model"
        );
        assert!(r.resolve("nope").is_none());
        assert!(r.plan("nope").is_none());
        let plan = r.plan("shared").unwrap();
        assert_eq!(plan.candidates().len(), 1);
        assert_eq!(plan.candidates()[0].provider.name(), "a");
        assert_eq!(
            r.plan("b/org/model").unwrap().candidates()[0]
                .upstream_model
                .as_ref(),
            "org/model"
        );
        assert!(r.resolve("a/nope").is_none());
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn aliases_plan_their_candidates_in_order() {
        let mut r = ModelRegistry::default();
        r.add(provider("a"), &["m1".into()]);
        r.add(provider("b"), &["m1".into(), "m2".into()]);
        r.add_alias("chat", &["b/m1", "a/m1", "m2"]).unwrap();
        let names: Vec<_> = r
            .plan("chat")
            .unwrap()
            .candidates()
            .iter()
            .map(|c| format!("{}/{}", c.provider.name(), c.upstream_model))
            .collect();
        assert_eq!(names, ["b/m1", "a/m1", "b/m2"]);
        assert_eq!(
            r.add_alias("x", &["a/m1", "nope"]),
            Err(vec!["nope".to_owned()])
        );
        assert!(r.plan("x").is_none());
    }
}
