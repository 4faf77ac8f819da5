#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The benchmarks that run against the test fakes build only with this feature.
cargo clippy --all-targets --features bench-fakes --locked -- -D warnings
cargo test --locked
