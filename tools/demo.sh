#!/usr/bin/env bash
# Sets up a fresh machine, builds lifelapse and renders the bundled demo album into demo.gif.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cargo run --release --locked -- render samples/biden_*.jpg --born 1942-11-20 -o demo.gif
echo "open demo.gif to watch it"
