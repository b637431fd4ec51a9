"""The peer of the BCCD benchmark: Ultralytics YOLOv8n from its yaml, from scratch.

Runs in its own virtual environment (``make bench-peer`` builds it from
``training/ml/bench-peer-requirements.txt``), never in the project's: it imports only
the standard library, ultralytics, torch, numpy, Pillow and onnxruntime, so it is run
as a script, not as ``training.ml``::

    bench-results/.peer-venv/bin/python training/ml/bench_peer.py \\
        --voc ../shared/datasets/bccd-voc/BCCD --budget 15 --out bench-results

Same split as ``training.ml.bench`` (train to fit, val for the best epoch, test for the
report), same wall-clock budget (Ultralytics' ``time`` argument, which fits the
epochs and the learning-rate schedule to it). No weights are downloaded
(``pretrained=False``, the model is built from ``yolov8n.yaml``). Writes
``<out>/yolov8n-<budget>min.json`` with Ultralytics' own test metrics, the ONNX Runtime
latency, and ``<out>/yolov8n-<budget>min-test-predictions.json`` (every test detection)
which ``python -m training.ml.bench --table-only`` scores with the same pycocotools
evaluation as our presets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from xml.etree import ElementTree  # noqa: S405 - the benchmark's own local files

CLASSES = ["Platelets", "RBC", "WBC"]


def voc_to_yolo(voc: Path, root: Path) -> Path:
    """Write the VOC splits as an Ultralytics data set (image links + labels); returns its yaml."""
    for split in ("train", "val", "test"):
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for stem in (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split():
            tree = ElementTree.parse(voc / "Annotations" / f"{stem}.xml")  # noqa: S314
            name = tree.find("filename").text.strip()
            width = float(tree.find("size/width").text)
            height = float(tree.find("size/height").text)
            link = images / name
            if not link.exists():
                link.symlink_to((voc / "JPEGImages" / name).resolve())
            lines = []
            for obj in tree.iter("object"):
                box = obj.find("bndbox")
                x1, y1, x2, y2 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
                x1, y1 = max(0.0, x1 - 1), max(0.0, y1 - 1)  # as training.ml.bench.voc_to_coco
                x2, y2 = min(width, x2), min(height, y2)
                if x2 <= x1 or y2 <= y1:
                    continue
                cls = CLASSES.index(obj.find("name").text.strip())
                cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
                w, h = (x2 - x1) / width, (y2 - y1) / height
                lines.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
            (labels / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(CLASSES))
    data.write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        f"names:\n{names}\n"
    )
    return data


def onnx_latency_ms(model_path: Path, image: object, *, threads: int, runs: int = 100) -> float:
    """Median ONNX Runtime latency (ms) of one float ``(1, 3, S, S)`` input, after warm-up."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # As training.ml.runtime.session_options: no spin-waiting threads (shared CPU).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: image}
    for _ in range(10):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voc", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=15.0, help="minutes")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    work = (args.out / "peer").resolve()
    work.mkdir(parents=True, exist_ok=True)
    # Keep Ultralytics' settings inside the work folder, offline, no auto-installs.
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "config"))
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import numpy as np
    import torch
    from PIL import Image
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS, torch_utils

    SETTINGS.update({"sync": False})
    torch_utils.NUM_THREADS = args.threads  # select_device() sets torch's threads to this
    torch.set_num_threads(args.threads)
    data = voc_to_yolo(args.voc, work / "bccd-yolo")
    name = f"yolov8n-{args.budget:g}min"
    model = YOLO("yolov8n.yaml")
    started = time.monotonic()
    model.train(
        data=str(data),
        epochs=1000,
        time=args.budget / 60,
        imgsz=args.imgsz,
        batch=args.batch,
        device="cpu",
        workers=0,
        pretrained=False,
        amp=False,
        plots=False,
        seed=0,
        project=str(work),
        name=name,
        exist_ok=True,
        verbose=False,
    )
    elapsed = time.monotonic() - started
    trainer = model.trainer
    best = YOLO(str(trainer.best))
    test = best.val(data=str(data), split="test", imgsz=args.imgsz, batch=args.batch,
                    device="cpu", plots=False, conf=0.001, iou=0.7, verbose=False)  # fmt: skip
    classes = [CLASSES[int(c)] for c in test.box.ap_class_index]
    per_class = {c: float(ap) for c, ap in zip(classes, test.box.ap50, strict=True)}

    predictions = []
    for path in sorted((work / "bccd-yolo" / "images" / "test").iterdir()):
        result = best.predict(str(path), imgsz=args.imgsz, conf=0.001, iou=0.7, device="cpu",
                              max_det=300, verbose=False)[0]  # fmt: skip
        predictions.append(
            {
                "file_name": path.name,
                "boxes": result.boxes.xyxy.tolist(),
                "scores": result.boxes.conf.tolist(),
                "labels": [int(c) for c in result.boxes.cls.tolist()],
            }
        )
    (args.out / f"{name}-test-predictions.json").write_text(json.dumps(predictions))

    try:
        onnx_path = Path(best.export(format="onnx", imgsz=args.imgsz, opset=17, nms=True,
                                     simplify=False, device="cpu"))  # fmt: skip
        nms_inside = True
    except Exception:  # noqa: BLE001 - older/newer exporters without nms=True
        onnx_path = Path(best.export(format="onnx", imgsz=args.imgsz, opset=17,
                                     simplify=False, device="cpu"))  # fmt: skip
        nms_inside = False
    first = sorted((work / "bccd-yolo" / "images" / "test").iterdir())[0]
    with Image.open(first) as image:
        pixels = np.asarray(image.convert("RGB").resize((args.imgsz, args.imgsz)))
    tensor = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    latency = {t: round(onnx_latency_ms(onnx_path, tensor, threads=t), 2) for t in (1, 2)}
    epochs = int(trainer.epoch) + 1
    seconds = elapsed / epochs  # with validation, as our presets' s/epoch
    figures = {
        "preset": "yolov8n (peer, from scratch)",
        "model": "Ultralytics YOLOv8n from yolov8n.yaml, no pretrained weights",
        "ultralytics": __import__("ultralytics").__version__,
        "budget_minutes": args.budget,
        "image_size": args.imgsz,
        "threads": args.threads,
        "epochs": epochs,
        "seconds_per_epoch": round(seconds, 1),
        "elapsed_seconds": round(elapsed, 1),
        "ultralytics_test_map50": float(test.box.map50),
        "ultralytics_test_map": float(test.box.map),
        "ultralytics_test_ap50_per_class": per_class,
        "onnx_latency_ms": latency[args.threads] if args.threads in latency else latency[2],
        "onnx_latency_ms_by_threads": latency,
        "onnx_input": f"float32 (1, 3, {args.imgsz}, {args.imgsz}), resized outside the graph",
        "onnx_nms_inside": nms_inside,
        "onnx_size_mb": round(onnx_path.stat().st_size / 2**20, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "predictions": f"{name}-test-predictions.json",
    }
    (args.out / f"{name}.json").write_text(json.dumps(figures, indent=1))
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
