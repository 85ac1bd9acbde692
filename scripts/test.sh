#!/usr/bin/env bash
# The whole suite. nextest runs media tests one at a time (.config/nextest.toml);
# without nextest, cargo test runs everything one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast -- --test-threads=1 "$@"
fi
