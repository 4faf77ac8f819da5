#!/usr/bin/env bash
# Installs a CPU-usable libtorch 2.11.0 (the version tch 0.24 wants and the GPU machines carry) from
# PyPI wheels pinned by sha256. Idempotent: a completion marker skips all work on the second run.
#
#   LIBTORCH=/some/dir tools/setup-libtorch.sh     # default: /var/cache/lifelapse/libtorch-2.11.0
set -euo pipefail

TORCH_VERSION=2.11.0
DEST=${LIBTORCH:-/var/cache/lifelapse/libtorch-${TORCH_VERSION}}
MARKER="$DEST/.lifelapse-complete"

if [[ -f "$MARKER" ]] && [[ "$(cat "$DEST/build-version" 2>/dev/null)" == "$TORCH_VERSION" ]]; then
    echo "libtorch $TORCH_VERSION already installed in $DEST"
    exit 0
fi

# The torch wheel is a CUDA build; libtorch_cpu.so links cudart and cupti, so those two small
# runtime wheels come along (versions from the torch wheel's own METADATA via cuda-toolkit 13.0.2).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/libtorch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/requirements.txt" <<REQ
torch==${TORCH_VERSION} --hash=sha256:7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a
nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548
nvidia-cuda-cupti==13.0.85 --hash=sha256:4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8
REQ

echo "downloading libtorch $TORCH_VERSION wheels (~540 MB)..."
python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -r "$WORK/requirements.txt" -d "$WORK/wheels"

STAGE="$WORK/libtorch"
mkdir -p "$STAGE/lib" "$WORK/unpack"
python3 - "$WORK/wheels" "$WORK/unpack" <<'PY'
import pathlib, sys, zipfile
wheels, out = map(pathlib.Path, sys.argv[1:])
wanted_lib = {"libtorch_cpu.so", "libtorch.so", "libc10.so", "libgomp.so.1",
              "libcudart.so.13", "libcupti.so.13"}
for wheel in wheels.glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            base = name.rsplit("/", 1)[-1]
            if base in wanted_lib or name.startswith("torch/include/"):
                z.extract(name, out)
PY
mv "$WORK/unpack/torch/include" "$STAGE/include"
find "$WORK/unpack" -name '*.so*' -type f -exec mv {} "$STAGE/lib/" \;
echo "$TORCH_VERSION" >"$STAGE/build-version"
touch "$STAGE/.lifelapse-complete"

# Install by rename so a killed run never leaves a half-filled directory behind the marker.
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial" "$DEST"
mv "$STAGE" "$DEST.partial"
mv "$DEST.partial" "$DEST"
echo "libtorch $TORCH_VERSION installed in $DEST ($(du -sh "$DEST" | cut -f1))"
