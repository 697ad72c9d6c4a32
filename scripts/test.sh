#!/usr/bin/env bash
# Keel's whole test suite, as CI runs it:
#   1. formatting and lints (cargo fmt --check, clippy -D warnings);
#   2. Rust unit and integration tests, the store tests against both SQLite
#      and PostgreSQL (127.0.0.1:5432, database `test`, trust auth);
#   3. the Python end-to-end suite: the official openai SDK against the
#      `keel` binary, in front of the fault-injecting fake upstream and a real
#      local model (scripts/test-python.sh installs what it needs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
step() { echo "== $*" >&2; }

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "test: PostgreSQL is not answering on 127.0.0.1:5432; the store tests need it" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --workspace
step "python end-to-end suite"
scripts/test-python.sh
