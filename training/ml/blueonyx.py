"""A variant of an exported model that Blue Onyx runs unchanged, as its ``rt-detrv2`` type.

Blue Onyx (github.com/xnorpx/blue-onyx) is an open-source ONNX detection server that
speaks the DeepStack / CodeProject.AI API to Blue Iris and Agent DVR. For an
``rt-detrv2`` model it:

- decodes the JPEG, stretch-resizes it to the model input's own ``H x W`` (read from the
  static input shape; no letterbox), scales RGB to 0..1 (no mean/std) and feeds
  ``images`` float32 ``[1, 3, H, W]`` and ``orig_target_sizes`` int64 ``[1, 2]``, which
  it fills with ``[H, W]`` itself;
- reads ``labels`` int64 ``[1, N]``, ``boxes`` float32 ``[1, N, 4]`` (x1, y1, x2, y2 in
  input pixels) and ``scores`` float32 ``[1, N]``, keeps ``score > confidence``, scales
  the boxes by original size / input size and truncates them to integers; it applies
  no NMS, so the model must;
- takes the class names from a YAML file with the model's stem (``model.onnx`` ->
  ``model.yaml``): ``NAMES: [name0, name1, ...]``, index = label id.

The variant wraps the studio's graph (which already resizes, normalises, decodes and
applies NMS): ``round(images * 255)`` as uint8 in front; behind, the boxes are scaled by
``orig_target_sizes / [H, W]`` (so with Blue Onyx's ``[H, W]`` they stay in input
pixels, and an RT-DETR client that passes the original size gets original pixels; the
input is square, so RT-DETR's ``[W, H]`` order reads the same) and the outputs get their
batch axis. onnx and numpy only: no torch.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PREFIX = "studio/"


def blueonyx_model(proto: onnx.ModelProto, *, input_size: int) -> onnx.ModelProto:
    """The Blue Onyx (``rt-detrv2``) variant of a studio ONNX model of square input
    ``input_size``. Raises ValueError if ``proto`` is not a studio detector."""
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    if inputs != ["images"] or outputs[:3] != ["boxes", "scores", "labels"]:
        raise ValueError(f"not a studio detector (inputs {inputs}, outputs {outputs})")
    size = int(input_size)
    if size < 1:
        raise ValueError("the model's input size is unknown")
    inner = onnx.compose.add_prefix(proto, PREFIX)
    graph = inner.graph
    consts = [
        numpy_helper.from_array(np.array(255.0, np.float32), "bo/255"),
        numpy_helper.from_array(np.array(0.0, np.float32), "bo/0"),
        numpy_helper.from_array(np.array([[size, size]], np.float32), "bo/input_hw"),
        numpy_helper.from_array(np.array([0], np.int64), "bo/axis0"),
    ]
    before = [
        helper.make_node("Mul", ["images", "bo/255"], ["bo/scaled"]),
        helper.make_node("Round", ["bo/scaled"], ["bo/rounded"]),
        helper.make_node("Clip", ["bo/rounded", "bo/0", "bo/255"], ["bo/clipped"]),
        helper.make_node("Cast", ["bo/clipped"], [f"{PREFIX}images"], to=TensorProto.UINT8),
    ]
    after = [
        helper.make_node("Cast", ["orig_target_sizes"], ["bo/orig"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["bo/orig", "bo/input_hw"], ["bo/factor"]),
        helper.make_node("Concat", ["bo/factor", "bo/factor"], ["bo/factor4"], axis=1),
        helper.make_node("Mul", [f"{PREFIX}boxes", "bo/factor4"], ["bo/boxes"]),
        helper.make_node("Unsqueeze", ["bo/boxes", "bo/axis0"], ["boxes"]),
        helper.make_node("Unsqueeze", [f"{PREFIX}scores", "bo/axis0"], ["scores"]),
        helper.make_node("Unsqueeze", [f"{PREFIX}labels", "bo/axis0"], ["labels"]),
    ]
    new_graph = helper.make_graph(
        before + list(graph.node) + after,
        "detection-studio-blueonyx",
        [
            helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size]),
            helper.make_tensor_value_info("orig_target_sizes", TensorProto.INT64, [1, 2]),
        ],
        [
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, "detections"]),
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, "detections", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, "detections"]),
        ],
        initializer=list(graph.initializer) + consts,
        value_info=list(graph.value_info),
    )
    model = helper.make_model(
        new_graph,
        opset_imports=list(proto.opset_import),
        ir_version=proto.ir_version,
        producer_name="detection-studio",
    )
    model.functions.extend(inner.functions)
    for entry in proto.metadata_props:
        model.metadata_props.add(key=entry.key, value=entry.value)
    model.metadata_props.add(
        key="variant",
        value=f"blueonyx rt-detrv2: images float32 [1,3,{size},{size}] RGB 0..1, stretched; "
        "orig_target_sizes int64 [1,2]; outputs labels, boxes (x1,y1,x2,y2), scores, after NMS",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def names_yaml(class_names: list[str]) -> str:
    """Blue Onyx's class file: ``NAMES: [...]`` (JSON strings are valid YAML)."""
    return "NAMES: [" + ", ".join(json.dumps(name) for name in class_names) + "]\n"


def blueonyx_zip(proto: onnx.ModelProto, *, input_size: int, class_names: list[str]) -> bytes:
    """A zip of ``model.onnx`` (the variant) and ``model.yaml`` (its class names)."""
    model = blueonyx_model(proto, input_size=input_size)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.onnx", model.SerializeToString())
        archive.writestr("model.yaml", names_yaml(class_names))
    return out.getvalue()
