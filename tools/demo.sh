#!/usr/bin/env bash
# Sets up a fresh machine, builds lifelapse and renders the bundled demo album into demo.gif.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# The photos carry no capture dates; their ages come from samples/CREDITS.md.
cargo run --release --locked -- render samples/ -o demo.gif \
    --age biden_1_senate_portrait.jpg=62 --age biden_2_2010_white_house.jpg=67 \
    --age biden_3_2013_vp_portrait.jpg=70 --age biden_4_2021_presidential_portrait.jpg=78
echo "open demo.gif to watch it"
