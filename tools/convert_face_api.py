#!/usr/bin/env python3
"""Converts the face networks of the npm package @vladmandic/face-api into safetensors for tch.

    python3 -m pip install numpy==2.3.5 safetensors==0.7.0
    tools/convert_face_api.py            # fetches the pinned tarball with `npm pack`, writes models/

The package ships TensorFlow.js weights: a JSON manifest listing tensors (name, shape, optional
uint8 quantisation) and .bin files holding them back to back. Each tensor is dequantised
(min + scale * q), moved from TensorFlow's layout to PyTorch's, and saved under its manifest
name with '/' replaced by '.'. models/MANIFEST.toml gets one entry per file.
"""
import json
import pathlib
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

from model_files import fetch_npm, manifest_entry, update_manifest

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
TARBALL_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
LICENCE = "MIT (package @vladmandic/face-api; text in models/README.md)"

# manifest stem in the package -> file written to models/
NETS = {
    "face_landmark_68_model": "face_landmark_68.safetensors",
    "tiny_face_detector_model": "tiny_face_detector.safetensors",
    "face_recognition_model": "face_recognition.safetensors",
    "age_gender_model": "age_gender.safetensors",
}

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def to_torch_layout(name: str, value: np.ndarray) -> np.ndarray:
    """TF keeps conv filters as [kh, kw, in, out] and depthwise ones as [kh, kw, C, 1];
    PyTorch wants [out, in, kh, kw] and [C, 1, kh, kw]; dense [in, out] becomes [out, in]."""
    if value.ndim == 4 and name.endswith("depthwise_filter"):
        return value.transpose(2, 3, 0, 1)
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2 and not name.endswith("anchors"):
        return value.transpose(1, 0)
    return value


def load_manifest(model_dir: pathlib.Path, stem: str) -> dict:
    groups = json.loads((model_dir / f"{stem}-weights_manifest.json").read_text())
    tensors = {}
    for group in groups:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            q = w.get("quantization")
            if q:
                if q["dtype"] != "uint8":
                    sys.exit(f"{w['name']}: unsupported quantisation {q['dtype']}")
                raw = np.frombuffer(data, dtype=np.uint8, count=count, offset=offset)
                offset += count
                value = (q["min"] + q["scale"] * raw.astype(np.float64)).astype(np.float32)
            else:
                if w["dtype"] != "float32":
                    sys.exit(f"{w['name']}: unsupported dtype {w['dtype']}")
                value = np.frombuffer(data, dtype="<f4", count=count, offset=offset).copy()
                offset += 4 * count
            value = value.reshape(w["shape"])
            tensors[w["name"].replace("/", ".")] = np.ascontiguousarray(to_torch_layout(w["name"], value))
        if offset != len(data):
            sys.exit(f"{stem}: {len(data) - offset} bytes left over after the manifest's tensors")
    return tensors


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = fetch_npm(PACKAGE, VERSION, TARBALL_SHA256, pathlib.Path(tmp)) / "model"
        entries = []
        for stem, out_name in NETS.items():
            tensors = load_manifest(model_dir, stem)
            out = MODELS / out_name
            save_file(tensors, str(out), metadata={"source": f"{PACKAGE}@{VERSION}/{stem}"})
            entries.append(manifest_entry(out, f"npm {PACKAGE}@{VERSION}, model/{stem}", LICENCE))
            print(f"wrote {out.relative_to(ROOT)} ({len(tensors)} tensors)")
    update_manifest(MODELS, entries)


if __name__ == "__main__":
    main()
