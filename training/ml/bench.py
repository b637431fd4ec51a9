"""Benchmark on a Pascal VOC data set (BCCD): train under a time budget, report figures.

    python -m training.ml.bench --voc ../shared/datasets/bccd-voc/BCCD \\
        --preset fast --budget 15 --out bench-results/

Trains on the ``train`` split (``val`` for early stopping and the best checkpoint),
evaluates on ``test``, exports verified ONNX, builds and evaluates its INT8 variant and
measures ONNX Runtime latency of both (batch 1, median of 100 runs after warm-up, 1
and 2 threads). Writes ``<out>/<preset>-<budget>min.json`` and gathers every result
file of ``<out>`` (the peer's too, see ``bench_peer.py``) into ``<out>/results.md``.
The VOC files are read in place; the converted COCO files go to the output folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
from defusedxml import ElementTree

from training.ml.errors import DatasetError, EngineError

logger = logging.getLogger(__name__)


def voc_to_coco(
    root: str | Path, split: str, class_names: list[str] | None = None
) -> dict[str, Any]:
    """A COCO dict of one ``ImageSets/Main/<split>.txt`` split of a VOC folder.

    ``file_name`` is relative to ``<root>/JPEGImages``. Categories are ``class_names``
    (ids 1..C in that order) or every class found, sorted.
    """
    root = Path(root)
    split_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        raise DatasetError(f"VOC split not found: {split_file}")
    records = []
    for stem in split_file.read_text().split():
        tree = ElementTree.parse(root / "Annotations" / f"{stem}.xml")
        size = tree.find("size")
        objects = []
        for obj in tree.iter("object"):
            box = obj.find("bndbox")
            x1, y1, x2, y2 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            objects.append((obj.find("name").text.strip(), x1, y1, x2, y2))
        records.append(
            (
                tree.find("filename").text.strip(),
                int(size.find("width").text),
                int(size.find("height").text),
                objects,
            )
        )
    names = class_names or sorted({o[0] for r in records for o in r[3]})
    cat_id = {name: i for i, name in enumerate(names, start=1)}
    coco: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": n} for n, i in cat_id.items()],
    }
    for image_id, (file_name, width, height, objects) in enumerate(records, start=1):
        coco["images"].append(
            {"id": image_id, "file_name": file_name, "width": width, "height": height}
        )
        for name, x1, y1, x2, y2 in objects:
            x1, y1 = max(0.0, x1 - 1), max(0.0, y1 - 1)  # VOC pixels are 1-based
            w, h = min(float(width), x2) - x1, min(float(height), y2) - y1
            if w > 0 and h > 0:
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": cat_id[name],
                        "bbox": [x1, y1, w, h],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
    return coco


def onnx_latency_ms(
    model_path: str | Path, image: np.ndarray, *, threads: int, runs: int = 100
) -> float:
    """Median ONNX Runtime latency (ms) of one uint8 ``(H, W, 3)`` image, after warm-up."""
    from training.ml.export import onnx_latency_ms as latency

    return latency(model_path, image, threads=threads, runs=runs, warmup=10)


def run(
    voc: Path,
    preset: str,
    budget: float,
    out: Path,
    *,
    threads: int,
    epochs: int,
    resume: bool = False,
) -> dict[str, Any]:
    """Train, evaluate on test, export and time one preset; returns the figures."""
    import torch

    from training.ml.audit import audit
    from training.ml.config import TrainConfig
    from training.ml.engine import train
    from training.ml.evaluate import evaluate_checkpoint
    from training.ml.export import export_onnx
    from training.ml.runtime import read_rgb

    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in ("train", "val", "test"):
        path = out / f"bccd-{split}.json"
        path.write_text(json.dumps(voc_to_coco(voc, split, ["Platelets", "RBC", "WBC"])))
        splits[split] = path
    images = voc / "JPEGImages"
    config = TrainConfig(
        preset=preset,
        epochs=epochs,
        time_budget_minutes=budget,
        num_threads=threads,
        early_stopping_patience=None,
    )
    config.augment.vflip = True
    run_dir = out / f"{preset}-{budget:g}min"
    last = run_dir / "last.pt"
    result = train(
        config,
        coco=splits["train"],
        images_dir=images,
        out_dir=run_dir,
        val_coco=splits["val"],
        resume=last if resume and last.is_file() else None,
    )
    if result.best_checkpoint is None:
        raise EngineError("training ended without a checkpoint")
    report = evaluate_checkpoint(result.best_checkpoint, splits["test"], images)
    (run_dir / "test-report.json").write_text(json.dumps(report))
    label_audit = audit(
        report, json.loads(splits["test"].read_text()), images, run_dir / "label-audit.png"
    )
    test_images = sorted(images.glob("*.jpg"))[:4]
    export = export_onnx(
        result.best_checkpoint,
        run_dir / "model.onnx",
        images=[torch.from_numpy(read_rgb(p).copy()).permute(2, 0, 1) for p in test_images],
        score_threshold=report["recommended_threshold"],
    )
    first_image = read_rgb(test_images[0])
    latency = {t: round(onnx_latency_ms(export["path"], first_image, threads=t), 2) for t in (1, 2)}
    int8 = _int8_variant(export["path"], run_dir, splits, images, first_image)
    seconds = [h["seconds"] for h in result.history]
    figures = {
        "preset": preset,
        "budget_minutes": budget,
        "threads": threads,
        "status": result.status,
        "epochs": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": round(statistics.median(seconds), 1) if seconds else None,
        "elapsed_seconds": round(result.elapsed_seconds, 1),
        "val": result.best_metrics,
        "test_map50": report["metrics"]["map50"],
        "test_map": report["metrics"]["map"],
        "test_ap50_per_class": {c["name"]: c["ap50"] for c in report["per_class"]},
        "recommended_threshold": report["recommended_threshold"],
        "onnx_latency_ms": latency.get(threads, latency[2]),
        "onnx_latency_ms_by_threads": latency,
        "onnx_size_mb": round(export["size_bytes"] / 2**20, 2),
        "onnx_parity": export["parity"],
        "int8": int8,
        "label_audit": label_audit,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    (out / f"{preset}-{budget:g}min.json").write_text(json.dumps(figures, indent=1))
    return figures


def _int8_variant(
    fp32_path: str, run_dir: Path, splits: dict[str, Path], images: Path, first_image: np.ndarray
) -> dict[str, Any]:
    """Quantize the export (calibrated on 32 training images); its test mAP and latency."""
    from training.ml.quantize import evaluate_onnx, quantize_int8
    from training.ml.runtime import read_rgb

    train_images = json.loads(splits["train"].read_text())["images"][:32]
    calibration = [read_rgb(images / im["file_name"]) for im in train_images]
    quantized = quantize_int8(fp32_path, run_dir / "model-int8.onnx", calibration)
    report = evaluate_onnx(quantized["path"], splits["test"], images)
    return {
        "test_map50": report["metrics"]["map50"],
        "test_map": report["metrics"]["map"],
        "test_ap50_per_class": {c["name"]: c["ap50"] for c in report["per_class"]},
        "onnx_latency_ms_by_threads": {
            t: round(onnx_latency_ms(quantized["path"], first_image, threads=t), 2) for t in (1, 2)
        },
        "onnx_size_mb": round(quantized["size_bytes"] / 2**20, 2),
    }


def _peer_test_metrics(figures: dict[str, Any], out: Path) -> None:
    """Score a peer's saved test detections with our pycocotools evaluation."""
    from training.ml.evaluate import evaluate_predictions

    test = json.loads((out / "bccd-test.json").read_text())
    image_ids = {im["file_name"]: im["id"] for im in test["images"]}
    category_ids = [c["id"] for c in test["categories"]]
    predictions = [
        {
            "image_id": image_ids[p["file_name"]],
            "boxes": p["boxes"],
            "scores": p["scores"],
            "category_ids": [category_ids[label] for label in p["labels"]],
        }
        for p in json.loads((out / figures["predictions"]).read_text())
    ]
    report = evaluate_predictions(test, predictions)
    figures["test_map50"] = report["metrics"]["map50"]
    figures["test_map"] = report["metrics"]["map"]
    figures["test_ap50_per_class"] = {c["name"]: c["ap50"] for c in report["per_class"]}


def write_table(out: Path) -> Path:
    """Gather every ``<out>/*min.json`` (presets and peer) into ``<out>/results.md``."""
    rows, audits = [], []
    for path in sorted(out.glob("*min.json")):
        figures = json.loads(path.read_text())
        if "predictions" in figures and (out / "bccd-test.json").is_file():
            _peer_test_metrics(figures, out)
            path.write_text(json.dumps(figures, indent=1))
        if "test_map50" not in figures:
            continue
        rows.append(_row(figures))
        if figures.get("int8"):
            rows.append(_row({**figures, **figures["int8"], "preset": f"{figures['preset']} INT8"}))
        if figures.get("label_audit"):
            audits.append(figures)
    table = out / "results.md"
    table.write_text(
        "# BCCD benchmark (test split)\n\n"
        "| model | budget min | epochs | s/epoch | mAP@0.5 | mAP@[.5:.95] "
        "| AP@0.5 Platelets / RBC / WBC | ONNX ms 1 thr | ONNX ms 2 thr | ONNX MB | peak RSS MB |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + "\n"
        + _audit_table(audits)
    )
    return table


def _audit_table(results: list[dict[str, Any]]) -> str:
    """The label audits (training/ml/audit.py) of the result files that have one."""
    if not results:
        return ""
    classes = ("Platelets", "RBC", "WBC")
    rows = []
    for figures in results:
        label_audit = figures["label_audit"]
        counts, labelled = label_audit["candidates_by_class"], label_audit["labelled_by_class"]
        without = label_audit["without_candidates"]
        ap = without["ap50_per_class"]
        rows.append(
            f"| {figures['preset']} | {figures['budget_minutes']:g} "
            f"| {' / '.join(f'{counts[n]} ({labelled[n]})' for n in classes)} "
            f"| {without['map50']:.3f} | {without['map']:.3f} "
            f"| {' / '.join(f'{ap[n]:.3f}' for n in classes)} | {label_audit['sheet']} |"
        )
    first = results[0]["label_audit"]
    return (
        f"\n## Label audit (detections scoring >= {first['min_score']:g} that overlap no "
        f"labelled box by IoU {first['max_iou']:g})\n\n"
        "| model | budget min | found Platelets / RBC / WBC (labelled) | mAP@0.5 without them "
        "| mAP@[.5:.95] without | AP@0.5 without | contact sheet |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _row(figures: dict[str, Any]) -> str:
    """One Markdown table row of a result file's figures."""
    ap = figures.get("test_ap50_per_class", {})
    latency = figures.get("onnx_latency_ms_by_threads", {})

    def fmt(value: Any, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    return (
        f"| {figures['preset']} | {figures['budget_minutes']:g} | {figures.get('epochs')} "
        f"| {figures.get('seconds_per_epoch')} | {fmt(figures['test_map50'])} "
        f"| {fmt(figures['test_map'])} "
        f"| {' / '.join(fmt(ap.get(n)) for n in ('Platelets', 'RBC', 'WBC'))} "
        f"| {fmt(latency.get('1'), 1)} | {fmt(latency.get('2'), 1)} "
        f"| {figures.get('onnx_size_mb')} | {figures.get('peak_rss_mb')} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ml.bench", description=__doc__)
    parser.add_argument("--voc", type=Path, required=True, help="VOC folder (Annotations, ...)")
    parser.add_argument("--preset", default="fast", choices=["fast", "balanced", "accurate"])
    parser.add_argument("--budget", type=float, default=15.0, help="minutes")
    parser.add_argument("--epochs", type=int, default=200, help="upper bound on epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from <out>/<preset>-<budget>min/last.pt if there is one (the time "
        "budget carries over; a finished run goes straight to evaluation and export)",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="only gather <out>/*.json into results.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.table_only:
        args.out.mkdir(parents=True, exist_ok=True)
        test_split = args.out / "bccd-test.json"
        if not test_split.is_file():
            classes = ["Platelets", "RBC", "WBC"]
            test_split.write_text(json.dumps(voc_to_coco(args.voc, "test", classes)))
        sys.stdout.write(write_table(args.out).read_text())
        return 0
    try:
        figures = run(
            args.voc,
            args.preset,
            args.budget,
            args.out,
            threads=args.threads,
            epochs=args.epochs,
            resume=args.resume,
        )
    except EngineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    write_table(args.out)
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
