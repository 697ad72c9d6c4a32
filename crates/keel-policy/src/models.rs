//! A key's model allow-list: exact names, or patterns where `*` matches
//! any run of characters (`claude-*`, `*-mini`).

/// Compiled allow-list; empty allows every model.
#[derive(Debug, Clone, Default)]
pub struct ModelAllowList {
    patterns: Vec<String>,
}

impl ModelAllowList {
    /// From the key's `models` field.
    pub fn new(patterns: &[String]) -> ModelAllowList {
        ModelAllowList {
            patterns: patterns.to_vec(),
        }
    }

    /// Whether `model` may be used.
    pub fn allows(&self, model: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| glob(p, model))
    }

    /// True when every model is allowed.
    pub fn allows_all(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `*`-only glob match, iterative (no backtracking blow-up).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_names_and_patterns() {
        let list =
            ModelAllowList::new(&["gpt-4o-mini".into(), "claude-*".into(), "*-embed".into()]);
        assert!(list.allows("gpt-4o-mini"));
        assert!(!list.allows("gpt-4o"));
        assert!(list.allows("claude-haiku-4-5"));
        assert!(list.allows("claude-"));
        assert!(!list.allows("xclaude-3"));
        assert!(list.allows("nomic-embed"));
        assert!(ModelAllowList::new(&[]).allows("anything"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-b-y"));
    }
}
