#!/usr/bin/env bash
# Every GPU measurement in one run, for a session that is lent a GPU machine (which has no Rust
# toolchain and reaches no registry; see ../shared/LIBTORCH.md).
#
#   tools/gpu-bench.sh prepare   # here: release build, stripped into out/gpu/ (ignored by git)
#   tools/gpu-bench.sh run       # there, with out/gpu carried: results under $OUT
#
# WORKLOAD picks the benchmark (default stylegan3: StyleGAN3-R/T at 1024², fp16/fp32, batch 1
# and batched, the fused filtered leaky ReLU against the operators, where a frame's time goes,
# ReStyle encodes/s); BENCH_TIMEOUT bounds it in seconds (default 420).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/lifelapse/target}"
    cargo build --release --locked
    mkdir -p out/gpu
    strip -o out/gpu/lifelapse "$CARGO_TARGET_DIR/release/lifelapse"
    du -h out/gpu/lifelapse
    ;;
run)
    : "${OUT:?the device machine sets OUT, the folder whose files come back}"
    # The machine's PyTorch provides libtorch (CUDA build) and NVRTC.
    torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || {
        echo "no PyTorch here: run this on the GPU machine" >&2
        exit 1
    }
    [[ -x out/gpu/lifelapse ]] || { echo "out/gpu/lifelapse is missing: run 'prepare' and carry out/gpu" >&2; exit 1; }
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/gpu.csv" 2>&1 || true
    out/gpu/lifelapse info >"$OUT/info.txt" 2>&1
    status=0
    RUST_LOG="${RUST_LOG:-info}" timeout "${BENCH_TIMEOUT:-420}" \
        out/gpu/lifelapse bench "${WORKLOAD:-stylegan3}" --json >"$OUT/bench.json" 2>"$OUT/bench.log" ||
        status=$?
    echo "bench exit status $status"
    tail -n 20 "$OUT/bench.log"
    exit "$status"
    ;;
*)
    echo "usage: tools/gpu-bench.sh prepare|run" >&2
    exit 2
    ;;
esac
