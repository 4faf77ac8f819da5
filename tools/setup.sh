#!/usr/bin/env bash
# Installs what lifelapse needs on a fresh Debian/Ubuntu machine with Rust (rustup) and Python 3:
# libheif for HEIC photos, ffmpeg for MP4 output, and libtorch for the networks. Safe to run again: finished steps are skipped.
#
#   tools/setup.sh          # what running lifelapse needs
#   tools/setup.sh --test   # plus what the test suite needs (heif-enc to make HEIC test photos,
#                           # nats-server for the cluster tests)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libheif1 ffmpeg)
[[ "${1:-}" == "--test" ]] && packages+=(libheif-examples nats-server)

missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        echo "installing ${missing[*]}..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "note: please install ${missing[*]} (HEIC photos, MP4 output, the cluster tests); continuing without" >&2
    fi
fi

if ! command -v cargo >/dev/null; then
    echo "error: Rust is not installed; get it from rustup (https://rustup.rs), then run this again" >&2
    exit 1
fi

tools/setup-libtorch.sh
# The tests compile the generator's CUDA kernels (no GPU needed for that).
if [[ "${1:-}" == "--test" ]]; then
    tools/setup-nvrtc.sh
fi
