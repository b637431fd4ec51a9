"""The peer of the benchmark: Ultralytics YOLOv8n from its yaml, from scratch.

Runs in its own virtual environment (``make bench-peer`` builds it from
``training/ml/bench-peer-requirements.txt``), never in the project's: it imports only
the standard library (and its stdlib-only siblings bench_clock.py and
bench_datasets.py), ultralytics, torch, numpy, Pillow and onnxruntime, so it is run
as a script, not as ``training.ml``::

    bench-results/.peer-venv/bin/python training/ml/bench_peer.py \\
        --voc ../shared/datasets/bccd-voc/BCCD --budget 15 --out bench-results
    bench-results/.peer-venv/bin/python training/ml/bench_peer.py --dataset rabbit \\
        --rabbit ../shared/datasets/rabbit-roboflow --cpu-budget 30 --out bench-results

Same split as ``training.ml.bench`` (train to fit, val for the best epoch, test for the
report), same budget: wall-clock minutes (Ultralytics' ``time`` argument, which fits
the epochs and the learning-rate schedule to it), or with ``--cpu-budget`` the
process's CPU seconds over all threads from the start of training (:class:`CpuBudget`
stops it by a callback). No weights are downloaded (``pretrained=False``, the model is
built from ``yolov8n.yaml``). Writes ``<out>/[rabbit-]yolov8n-[cpu]<budget>min.json``
with Ultralytics' own test metrics, the ONNX Runtime latency, the training's wall and
CPU seconds, CPU share and load average, and ``<name>-test-predictions.json`` (every
test detection) which ``python -m training.ml.bench --table-only`` scores with the same
pycocotools evaluation as our presets.
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
from typing import Any
from xml.etree import ElementTree  # noqa: S405 - the benchmark's own local files

# Siblings of this script (standard library only), importable from its folder.
from bench_clock import RunClock, budget_label
from bench_datasets import rabbit_coco, rabbit_images_dir

CLASSES = {"bccd": ["Platelets", "RBC", "WBC"], "rabbit": ["rabbit"]}
# One image: its file name, where it is, its size and boxes (class index, x1, y1, x2, y2).
Record = tuple[str, Path, float, float, list[tuple[int, float, float, float, float]]]


def voc_records(voc: Path, split: str) -> list[Record]:
    """BCCD's images of one VOC split, as ``training.ml.bench.voc_to_coco`` reads them."""
    records = []
    for stem in (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split():
        tree = ElementTree.parse(voc / "Annotations" / f"{stem}.xml")  # noqa: S314
        name = tree.find("filename").text.strip()
        width = float(tree.find("size/width").text)
        height = float(tree.find("size/height").text)
        boxes = []
        for obj in tree.iter("object"):
            box = obj.find("bndbox")
            x1, y1, x2, y2 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            x1, y1 = max(0.0, x1 - 1), max(0.0, y1 - 1)  # as training.ml.bench.voc_to_coco
            boxes.append((CLASSES["bccd"].index(obj.find("name").text.strip()), x1, y1, x2, y2))
        records.append((name, voc / "JPEGImages" / name, width, height, boxes))
    return records


def rabbit_records(root: Path, split: str) -> list[Record]:
    """The rabbit set's images of one split of its committed split file."""
    coco = rabbit_coco(root, split)
    label = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    boxes: dict[int, list] = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        boxes[a["image_id"]].append((label[a["category_id"]], x, y, x + w, y + h))
    return [
        (im["file_name"], rabbit_images_dir(root) / im["file_name"], float(im["width"]),
         float(im["height"]), boxes[im["id"]])
        for im in coco["images"]
    ]  # fmt: skip


def write_yolo(records: dict[str, list[Record]], classes: list[str], root: Path) -> Path:
    """Write the splits as an Ultralytics data set (image links + labels); returns its yaml."""
    for split, images_of_split in records.items():
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for name, source, width, height, boxes in images_of_split:
            link = images / name
            if not link.exists():
                link.symlink_to(source.resolve())
            lines = []
            for cls, x1, y1, x2, y2 in boxes:
                x2, y2 = min(width, x2), min(height, y2)
                if x2 <= x1 or y2 <= y1:
                    continue
                cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
                w, h = (x2 - x1) / width, (y2 - y1) / height
                lines.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
            (labels / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(classes))
    data.write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        f"names:\n{names}\n"
    )
    return data


class CpuBudget:
    """Ultralytics callbacks that end training when the process has spent ``seconds`` of
    CPU time (all threads) since training started. Until then they keep the trainer's
    ``time`` argument (wall hours, which Ultralytics fits the epochs and the learning-rate
    schedule to, and checks after every optimizer step) at the wall time the rest of the
    CPU budget will take at the CPU rate measured so far."""

    def __init__(self, seconds: float, threads: int) -> None:
        self.seconds, self.threads = seconds, threads
        self.clock = RunClock(threads)
        self.spent: float | None = None  # CPU seconds counted when training stopped

    def initial_hours(self) -> float:
        """The ``time`` argument to start with: the budget at a full share of the threads."""
        return self.seconds / self.threads / 3600

    def attach(self, model: Any) -> None:
        model.add_callback("on_train_start", self.start)
        model.add_callback("on_train_batch_start", self.refit)
        model.add_callback("on_train_epoch_end", self.refit)
        model.add_callback("on_train_batch_end", self.check)

    def start(self, trainer: Any) -> None:
        self.clock = RunClock(self.threads)

    def refit(self, trainer: Any) -> None:
        wall = time.monotonic() - self.clock.wall_started
        cpu = self.clock.cpu_seconds()
        rate = cpu / wall if wall > 1.0 and cpu > 0 else float(self.threads)
        left = max(0.0, self.seconds - cpu)
        trainer.args.time = (time.time() - trainer.train_time_start + left / rate) / 3600

    def check(self, trainer: Any) -> None:
        spent = self.clock.cpu_seconds()
        if spent >= self.seconds:
            trainer.stop = True
        if trainer.stop:
            self.spent = round(spent, 1)


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
    parser.add_argument("--dataset", default="bccd", choices=sorted(CLASSES))
    parser.add_argument("--voc", type=Path, help="BCCD's VOC folder")
    parser.add_argument("--rabbit", type=Path, help="the rabbit-roboflow export's folder")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=float, help="wall-clock minutes (default 15)")
    budget.add_argument("--cpu-budget", type=float, metavar="MIN", help="CPU minutes instead")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    source = args.voc if args.dataset == "bccd" else args.rabbit
    if source is None:
        parser.error(
            f"--dataset {args.dataset} needs --{'voc' if args.dataset == 'bccd' else 'rabbit'}"
        )
    clock = "cpu" if args.cpu_budget is not None else "wall"
    minutes = args.cpu_budget if clock == "cpu" else (args.budget or 15.0)
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

    process = RunClock(args.threads)
    SETTINGS.update({"sync": False})
    torch_utils.NUM_THREADS = args.threads  # select_device() sets torch's threads to this
    torch.set_num_threads(args.threads)
    records = voc_records if args.dataset == "bccd" else rabbit_records
    yolo_root = work / f"{args.dataset}-yolo"
    data = write_yolo(
        {split: records(source, split) for split in ("train", "val", "test")},
        CLASSES[args.dataset],
        yolo_root,
    )
    prefix = "" if args.dataset == "bccd" else f"{args.dataset}-"
    name = f"{prefix}yolov8n-{budget_label(minutes, clock)}"
    model = YOLO("yolov8n.yaml")
    hours, cpu_budget = minutes / 60, None
    if clock == "cpu":
        cpu_budget = CpuBudget(minutes * 60, args.threads)
        cpu_budget.attach(model)
        hours = cpu_budget.initial_hours()
    training = RunClock(args.threads)
    model.train(
        data=str(data),
        epochs=1000,
        time=hours,
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
    trained = training.figures()
    elapsed = trained["wall_seconds"]
    trainer = model.trainer
    best = YOLO(str(trainer.best))
    test = best.val(data=str(data), split="test", imgsz=args.imgsz, batch=args.batch,
                    device="cpu", plots=False, conf=0.001, iou=0.7, verbose=False)  # fmt: skip
    classes = [CLASSES[args.dataset][int(c)] for c in test.box.ap_class_index]
    per_class = {c: float(ap) for c, ap in zip(classes, test.box.ap50, strict=True)}

    predictions = []
    for path in sorted((yolo_root / "images" / "test").iterdir()):
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
    first = sorted((yolo_root / "images" / "test").iterdir())[0]
    with Image.open(first) as image:
        pixels = np.asarray(image.convert("RGB").resize((args.imgsz, args.imgsz)))
    tensor = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    latency = {t: round(onnx_latency_ms(onnx_path, tensor, threads=t), 2) for t in (1, 2)}
    epochs = int(trainer.epoch) + 1
    seconds = elapsed / epochs  # with validation, as our presets' s/epoch
    whole = process.figures()
    figures = {
        "dataset": args.dataset,
        "preset": "yolov8n (peer, from scratch)",
        "model": "Ultralytics YOLOv8n from yolov8n.yaml, no pretrained weights",
        "ultralytics": __import__("ultralytics").__version__,
        "budget_minutes": minutes,
        "budget_clock": clock,
        "image_size": args.imgsz,
        "threads": args.threads,
        "epochs": epochs,
        "seconds_per_epoch": round(seconds, 1),
        "elapsed_seconds": round(elapsed, 1),
        # The training's (model.train: its setup, epochs and final validation).
        **trained,
        # The CPU budget's count (from the training loop's start) when training stopped.
        "budget_cpu_seconds": cpu_budget.spent if cpu_budget is not None else None,
        "process_wall_seconds": whole["wall_seconds"],
        "process_cpu_seconds": whole["cpu_seconds"],
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
