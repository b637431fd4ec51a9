"""Benchmark on real data sets (BCCD, rabbit): train under a time budget, report figures.

    python -m training.ml.bench --voc ../shared/datasets/bccd-voc/BCCD \\
        --preset fast --budget 15 --out bench-results/
    python -m training.ml.bench --dataset rabbit \\
        --rabbit ../shared/datasets/rabbit-roboflow --preset fast --cpu-budget 30

Trains on the ``train`` split (``val`` for early stopping and the best checkpoint),
evaluates on ``test``, exports verified ONNX, builds and evaluates its INT8 variant and
measures ONNX Runtime latency of both (batch 1, median of 100 runs after warm-up, 1
and 2 threads). BCCD's split is the VOC one; the rabbit set's is committed in
``bench_data/rabbit-split.json`` (bench_datasets.py). The budget is wall time
(``--budget``) or the process's CPU seconds over all threads (``--cpu-budget``); either
way the result records the training's wall and CPU seconds, the CPU share it got and
the load average at its start and end (bench_clock.py). Writes
``<out>/[rabbit-]<preset>-[cpu]<budget>min.json`` and gathers every result file of
``<out>`` (the peer's too, see ``bench_peer.py``) into ``<out>/results.md``, a section
per data set. The source files are read in place; the COCO files go to the output folder.
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

from training.ml.bench_clock import RunClock, budget_label
from training.ml.bench_datasets import rabbit_coco, rabbit_images_dir
from training.ml.errors import DatasetError, EngineError

logger = logging.getLogger(__name__)

# The class names of each benchmark data set (their label order).
CLASSES = {"bccd": ["Platelets", "RBC", "WBC"], "rabbit": ["rabbit"]}
TITLES = {
    "bccd": "BCCD (VOC test split)",
    "rabbit": "rabbit-roboflow (test split of training/ml/bench_data/rabbit-split.json)",
}


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


def dataset_split(dataset: str, source: Path, split: str) -> dict[str, Any]:
    """The COCO dict of one split of a benchmark data set (its source folder)."""
    if dataset == "rabbit":
        return rabbit_coco(source, split)
    return voc_to_coco(source, split, CLASSES["bccd"])


def write_splits(dataset: str, source: Path, out: Path) -> tuple[dict[str, Path], Path]:
    """Write the data set's train/val/test COCO files into ``out``; returns them and the
    image folder their ``file_name`` is relative to."""
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in ("train", "val", "test"):
        path = out / f"{dataset}-{split}.json"
        path.write_text(json.dumps(dataset_split(dataset, source, split)))
        splits[split] = path
    images = rabbit_images_dir(source) if dataset == "rabbit" else source / "JPEGImages"
    return splits, images


def result_name(dataset: str, preset: str, budget: float, clock: str = "wall") -> str:
    """``fast-15min`` (BCCD, as before the rabbit set), ``rabbit-fast-cpu30min``."""
    prefix = "" if dataset == "bccd" else f"{dataset}-"
    return f"{prefix}{preset}-{budget_label(budget, clock)}"


def run(
    source: Path,
    preset: str,
    budget: float,
    out: Path,
    *,
    threads: int,
    epochs: int,
    resume: bool = False,
    dataset: str = "bccd",
    clock: str = "wall",
) -> dict[str, Any]:
    """Train, evaluate on test, export and time one preset; returns the figures.

    ``source``: the VOC folder (BCCD) or the Roboflow export (rabbit). ``clock``: what
    ``budget`` (minutes) measures, "wall" or "cpu" (TrainConfig.time_budget_clock)."""
    import torch

    from training.ml.audit import audit
    from training.ml.config import TrainConfig
    from training.ml.engine import train
    from training.ml.evaluate import evaluate_checkpoint
    from training.ml.export import export_onnx
    from training.ml.runtime import read_rgb

    process = RunClock(threads)
    torch.set_num_threads(threads)
    splits, images = write_splits(dataset, source, out)
    config = TrainConfig(
        preset=preset,
        epochs=epochs,
        time_budget_minutes=budget,
        time_budget_clock=clock,
        num_threads=threads,
        early_stopping_patience=None,
    )
    config.augment.vflip = dataset == "bccd"  # cells have no up; rabbits do
    name = result_name(dataset, preset, budget, clock)
    run_dir = out / name
    last = run_dir / "last.pt"
    training = RunClock(threads)
    result = train(
        config,
        coco=splits["train"],
        images_dir=images,
        out_dir=run_dir,
        val_coco=splits["val"],
        resume=last if resume and last.is_file() else None,
    )
    trained = training.figures()
    if result.best_checkpoint is None:
        raise EngineError("training ended without a checkpoint")
    report = evaluate_checkpoint(result.best_checkpoint, splits["test"], images)
    (run_dir / "test-report.json").write_text(json.dumps(report))
    test = json.loads(splits["test"].read_text())
    label_audit = audit(report, test, images, run_dir / "label-audit.png")
    test_images = [images / im["file_name"] for im in test["images"][:4]]
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
    whole = process.figures()
    figures = {
        "dataset": dataset,
        "preset": preset,
        "budget_minutes": budget,
        "budget_clock": clock,
        "threads": threads,
        "status": result.status,
        "epochs": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": round(statistics.median(seconds), 1) if seconds else None,
        "elapsed_seconds": round(result.elapsed_seconds, 1),
        # The training's (what the budget bounds): wall and CPU seconds, CPU share, load.
        **trained,
        "process_wall_seconds": whole["wall_seconds"],
        "process_cpu_seconds": whole["cpu_seconds"],
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
    (out / f"{name}.json").write_text(json.dumps(figures, indent=1))
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


def _peer_test_metrics(figures: dict[str, Any], test_file: Path, out: Path) -> None:
    """Score a peer's saved test detections with our pycocotools evaluation."""
    from training.ml.evaluate import evaluate_predictions

    test = json.loads(test_file.read_text())
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
    """Gather every ``<out>/*min.json`` (presets and peer) into ``<out>/results.md``, a
    section per data set (a result file without ``dataset`` is BCCD's)."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob("*min.json")):
        figures = json.loads(path.read_text())
        dataset = figures.get("dataset", "bccd")
        test_file = out / f"{dataset}-test.json"
        if "predictions" in figures and test_file.is_file():
            _peer_test_metrics(figures, test_file, out)
            path.write_text(json.dumps(figures, indent=1))
        if "test_map50" in figures and dataset in CLASSES:
            by_dataset.setdefault(dataset, []).append(figures)
    sections = [_section(d, by_dataset[d]) for d in CLASSES if d in by_dataset]
    table = out / "results.md"
    table.write_text(
        "# Detection benchmarks (test splits)\n\n"
        "Budget: wall minutes, or CPU minutes (process CPU seconds over all threads). Wall "
        "s, CPU s, CPU share (CPU s / (wall s x threads)) and the load average (1 min) at "
        "its start and end are the training's.\n" + "".join(sections)
    )
    return table


def _section(dataset: str, results: list[dict[str, Any]]) -> str:
    """One data set's results table and its label audits."""
    classes = CLASSES[dataset]
    rows = []
    for figures in results:
        rows.append(_row(figures, classes))
        if figures.get("int8"):
            int8 = {**figures, **figures["int8"], "preset": f"{figures['preset']} INT8"}
            rows.append(_row(int8, classes))
    audits = [figures for figures in results if figures.get("label_audit")]
    return (
        f"\n## {TITLES[dataset]}\n\n"
        f"| model | budget min | epochs | s/epoch | mAP@0.5 | mAP@[.5:.95] "
        f"| AP@0.5 {' / '.join(classes)} | ONNX ms 1 thr | ONNX ms 2 thr | ONNX MB "
        "| peak RSS MB | wall s | CPU s | CPU share | load start / end |\n"
        + "| --- " * 15
        + "|\n"
        + "\n".join(rows)
        + "\n"
        + _audit_table(audits, classes)
    )


def _audit_table(results: list[dict[str, Any]], classes: list[str]) -> str:
    """The label audits (training/ml/audit.py) of the result files that have one."""
    if not results:
        return ""
    rows = []
    for figures in results:
        label_audit = figures["label_audit"]
        counts, labelled = label_audit["candidates_by_class"], label_audit["labelled_by_class"]
        without = label_audit["without_candidates"]
        ap = without["ap50_per_class"]
        rows.append(
            f"| {figures['preset']} | {_budget(figures)} "
            f"| {' / '.join(f'{counts[n]} ({labelled[n]})' for n in classes)} "
            f"| {without['map50']:.3f} | {without['map']:.3f} "
            f"| {' / '.join(f'{ap[n]:.3f}' for n in classes)} | {label_audit['sheet']} |"
        )
    first = results[0]["label_audit"]
    return (
        f"\n### Label audit (detections scoring >= {first['min_score']:g} that overlap no "
        f"labelled box by IoU {first['max_iou']:g})\n\n"
        f"| model | budget min | found {' / '.join(classes)} (labelled) | mAP@0.5 without them "
        "| mAP@[.5:.95] without | AP@0.5 without | contact sheet |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )


def _budget(figures: dict[str, Any]) -> str:
    """The budget cell: ``15`` (wall minutes) or ``30 CPU``."""
    cpu = " CPU" if figures.get("budget_clock") == "cpu" else ""
    return f"{figures['budget_minutes']:g}{cpu}"


def _row(figures: dict[str, Any], classes: list[str]) -> str:
    """One Markdown table row of a result file's figures."""
    ap = figures.get("test_ap50_per_class", {})
    latency = figures.get("onnx_latency_ms_by_threads", {})

    def fmt(value: Any, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    load = [figures.get(f"load_average_{end}") or [None] for end in ("start", "end")]
    return (
        f"| {figures['preset']} | {_budget(figures)} | {figures.get('epochs')} "
        f"| {figures.get('seconds_per_epoch')} | {fmt(figures['test_map50'])} "
        f"| {fmt(figures['test_map'])} "
        f"| {' / '.join(fmt(ap.get(n)) for n in classes)} "
        f"| {fmt(latency.get('1'), 1)} | {fmt(latency.get('2'), 1)} "
        f"| {figures.get('onnx_size_mb')} | {figures.get('peak_rss_mb')} "
        f"| {fmt(figures.get('wall_seconds'), 0)} | {fmt(figures.get('cpu_seconds'), 0)} "
        f"| {fmt(figures.get('cpu_share'), 2)} "
        f"| {fmt(load[0][0], 2)} / {fmt(load[1][0], 2)} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ml.bench", description=__doc__)
    parser.add_argument("--dataset", default="bccd", choices=sorted(CLASSES))
    parser.add_argument("--voc", type=Path, help="BCCD's VOC folder (Annotations, ...)")
    parser.add_argument("--rabbit", type=Path, help="the rabbit-roboflow export's folder")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget", type=float, help="wall-clock minutes (default 15)")
    budget.add_argument(
        "--cpu-budget",
        type=float,
        metavar="MIN",
        help="CPU minutes instead: the process's CPU seconds over all threads / 60",
    )
    parser.add_argument("--preset", default="fast", choices=["fast", "balanced", "accurate"])
    parser.add_argument("--epochs", type=int, default=200, help="upper bound on epochs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from <out>/<result name>/last.pt if there is one (the time "
        "budget carries over; a finished run goes straight to evaluation and export)",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="only gather <out>/*.json into results.md"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    sources = {"bccd": args.voc, "rabbit": args.rabbit}
    if args.table_only:
        args.out.mkdir(parents=True, exist_ok=True)
        for dataset, source in sources.items():  # the peer's detections are scored on them
            test_split = args.out / f"{dataset}-test.json"
            if source is not None and source.is_dir() and not test_split.is_file():
                test_split.write_text(json.dumps(dataset_split(dataset, source, "test")))
        sys.stdout.write(write_table(args.out).read_text())
        return 0
    source = sources[args.dataset]
    if source is None:
        parser.error(
            f"--dataset {args.dataset} needs --{'voc' if args.dataset == 'bccd' else 'rabbit'}"
        )
    clock = "cpu" if args.cpu_budget is not None else "wall"
    try:
        figures = run(
            source,
            args.preset,
            args.cpu_budget if clock == "cpu" else (args.budget or 15.0),
            args.out,
            threads=args.threads,
            epochs=args.epochs,
            resume=args.resume,
            dataset=args.dataset,
            clock=clock,
        )
    except EngineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    write_table(args.out)
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
