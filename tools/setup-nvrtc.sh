#!/usr/bin/env bash
# Installs NVRTC 13.0 (the CUDA run-time compiler, ~110 MB) and ptxas 13.0 (the PTX assembler,
# ~40 MB) from their PyPI wheels pinned by sha256, so that the tests can compile the generator's
# CUDA kernels and assemble them for a Hopper GPU on a machine without one. On a GPU machine
# lifelapse uses the NVRTC that comes with PyTorch and the driver assembles. Idempotent (a
# completion marker).
#
#   NVRTC_DIR=/some/dir tools/setup-nvrtc.sh     # default: /var/cache/lifelapse/nvrtc-13.0.88
set -euo pipefail

VERSION=13.0.88
DEST=${NVRTC_DIR:-/var/cache/lifelapse/nvrtc-${VERSION}}
MARKER="$DEST/.lifelapse-complete"
[[ -f "$MARKER" && -x "$DEST/ptxas" ]] && { echo "NVRTC and ptxas $VERSION already installed in $DEST"; exit 0; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvrtc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "nvidia-cuda-nvrtc==${VERSION} --hash=sha256:ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575" \
    >"$WORK/requirements.txt"
echo "nvidia-cuda-nvcc==${VERSION} --hash=sha256:56fe502eb77625a12f25172caa3cdddb4e4c8ba2c8c17dba44b164761b380f03" \
    >>"$WORK/requirements.txt"
echo "downloading NVRTC and ptxas $VERSION (~130 MB)..."
python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -r "$WORK/requirements.txt" -d "$WORK/wheels"
mkdir -p "$WORK/stage"
python3 - "$WORK/wheels" "$WORK/stage" <<'PY'
import pathlib, sys, zipfile
wheels, out = map(pathlib.Path, sys.argv[1:])
wanted = {"libnvrtc.so.13", "libnvrtc-builtins.so.13.0", "ptxas"}
for wheel in wheels.glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = name.rsplit("/", 1)[-1]
            if base in wanted:
                (out / base).write_bytes(z.read(name))
PY
chmod +x "$WORK/stage/ptxas"
touch "$WORK/stage/.lifelapse-complete"
# Install by rename so a killed run never leaves a half-filled directory behind the marker.
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial" "$DEST"
mv "$WORK/stage" "$DEST.partial"
mv "$DEST.partial" "$DEST"
echo "NVRTC and ptxas $VERSION installed in $DEST"
