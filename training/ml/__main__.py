"""Command line: ``python -m training.ml train|evaluate|export|predict|audit``.

Results go to stdout as JSON, progress to stderr. A bad argument or bad data ends
with one ``error: ...`` line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from training.ml.errors import EngineError

# The time budget of ``train`` counts from here, before torch is even imported.
PROCESS_STARTED = time.monotonic()
logger = logging.getLogger("training.ml")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class UsageError(Exception):
    """A command-line argument is invalid."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m training.ml", description="Detection engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train a detector on a COCO data set")
    train.add_argument("--coco", required=True, type=Path, help="COCO JSON of the training data")
    train.add_argument("--images", required=True, type=Path, help="folder of the images")
    train.add_argument("--out", required=True, type=Path, help="folder for last.pt and best.pt")
    train.add_argument("--val-coco", type=Path, help="COCO JSON of the validation data")
    train.add_argument("--val-images", type=Path, help="image folder of the validation data")
    train.add_argument("--preset", choices=["fast", "balanced", "accurate"], default="fast")
    train.add_argument(
        "--time-budget",
        type=_positive_float,
        metavar="MINUTES",
        help="wall time of the whole process, decoding and validation included (fractions ok)",
    )
    train.add_argument("--epochs", type=_positive_int, default=50)
    train.add_argument("--image-size", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int, default=4)
    train.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    train.add_argument("--lr", type=_positive_float)
    train.add_argument(
        "--warmup-steps",
        type=int,
        metavar="STEPS",
        help="learning-rate warm-up (default: 50; 10 with --init-from)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=0, help="data loader processes")
    train.add_argument("--threads", type=_positive_int, help="CPU threads (default: all)")
    train.add_argument(
        "--cache-mb",
        type=_positive_int,
        default=2048,
        metavar="MB",
        help="memory for decoded images, at training size (train and val together)",
    )
    train.add_argument("--no-pretrained", action="store_true", help="random backbone")
    train.add_argument("--resume", type=Path, metavar="CHECKPOINT", help="a last.pt to continue")
    train.add_argument(
        "--init-from",
        type=Path,
        metavar="CHECKPOINT",
        help="fine-tune from a best.pt or last.pt of the same preset (classes matched by name)",
    )
    train.add_argument(
        "--device",
        default="auto",
        help="auto, cpu or cuda; under torchrun each process takes cuda:LOCAL_RANK",
    )

    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint on a COCO data set")
    evaluate.add_argument("--checkpoint", required=True, type=Path)
    evaluate.add_argument("--coco", required=True, type=Path)
    evaluate.add_argument("--images", required=True, type=Path)
    evaluate.add_argument("--out", required=True, type=Path, help="report JSON to write")

    export = commands.add_parser("export", help="export a checkpoint to verified ONNX")
    export.add_argument("--checkpoint", required=True, type=Path)
    export.add_argument("--out", required=True, type=Path, help="model.onnx to write")
    export.add_argument(
        "--images", type=Path, nargs="*", help="images or folders for the parity check"
    )
    export.add_argument("--threshold", type=float, default=0.3, help="default score threshold")
    export.add_argument("--opset", type=int, default=17)

    predict = commands.add_parser("predict", help="run an exported model on images (JSON out)")
    predict.add_argument("--model", required=True, type=Path)
    predict.add_argument("--threshold", type=float, help="score threshold (default: the model's)")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    audit = commands.add_parser(
        "audit", help="list likely missing labels: confident detections far from every label"
    )
    audit.add_argument("--report", required=True, type=Path, help="report JSON of evaluate")
    audit.add_argument("--coco", required=True, type=Path, help="the COCO JSON it evaluated")
    audit.add_argument("--images", required=True, type=Path, help="folder of the images")
    audit.add_argument("--out", required=True, type=Path, help="contact sheet PNG to write")
    audit.add_argument("--min-score", type=_unit_float, default=0.5)
    audit.add_argument("--max-iou", type=_unit_float, default=0.3)
    return parser


def _train(args: argparse.Namespace) -> dict[str, Any] | None:
    """Under ``torchrun --nproc-per-node N`` one of N processes (training/ml/distributed.py):
    rank 0 reports, the others print nothing."""
    from training.ml.config import TrainConfig
    from training.ml.distributed import joined
    from training.ml.engine import train
    from training.ml.finetune import FINETUNE_WARMUP_STEPS

    warmup = args.warmup_steps
    if warmup is None:
        warmup = FINETUNE_WARMUP_STEPS if args.init_from else TrainConfig.warmup_steps
    config = TrainConfig(
        preset=args.preset,
        image_size=args.image_size,
        epochs=args.epochs,
        time_budget_minutes=args.time_budget,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        warmup_steps=warmup,
        seed=args.seed,
        num_workers=args.workers,
        num_threads=args.threads,
        cache_max_megabytes=args.cache_mb,
        pretrained=not args.no_pretrained,
        device=args.device,
    )

    config.validate()
    with joined(config.device) as group:
        result = train(
            config,
            coco=args.coco,
            images_dir=args.images,
            out_dir=args.out,
            val_coco=args.val_coco,
            val_images_dir=args.val_images,
            resume=args.resume,
            init_from=args.init_from,
            clock_started=PROCESS_STARTED,
            group=group,
        )
    if not group.is_main:
        return None
    return {
        "status": result.status,
        "epochs_completed": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "best_metrics": result.best_metrics,
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
        "elapsed_seconds": round(result.elapsed_seconds, 1),
        "started_from": result.started_from,
    }


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from training.ml.evaluate import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.coco, args.images)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return {
        "report": str(args.out),
        "metrics": report["metrics"],
        "recommended_threshold": report["recommended_threshold"],
    }


def _image_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise EngineError(f"image not found: {path}")
    return files


def _export(args: argparse.Namespace) -> dict[str, Any]:
    from training.ml.data import read_image
    from training.ml.export import export_onnx

    images = None
    if args.images:
        files = _image_files(args.images)[:8]
        if not files:
            raise EngineError("no images found for the parity check")
        images = [read_image(p) for p in files]
    return export_onnx(
        args.checkpoint, args.out, images=images, opset=args.opset, score_threshold=args.threshold
    )


def _predict(args: argparse.Namespace) -> list[dict[str, Any]]:
    from training.ml.runtime import predict_files

    for path in args.images:
        if not path.is_file():
            raise EngineError(f"image not found: {path}")
    return predict_files(args.model, args.images, threshold=args.threshold)


def _audit(args: argparse.Namespace) -> dict[str, Any]:
    from training.ml.audit import audit
    from training.ml.data import load_coco

    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"cannot read report {args.report}: {exc}") from exc
    if not isinstance(report, dict) or "images" not in report.get("per_image", {}):
        raise EngineError(f"{args.report} is not a report of python -m training.ml evaluate")
    if not args.images.is_dir():
        raise EngineError(f"image folder not found: {args.images}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return audit(
        report,
        load_coco(args.coco),
        args.images,
        args.out,
        min_score=args.min_score,
        max_iou=args.max_iou,
    )


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "export": _export,
    "predict": _predict,
    "audit": _audit,
}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        result = COMMANDS[args.command](args)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc} (see python -m training.ml --help)\n")
        return 2
    except EngineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    if result is not None:
        sys.stdout.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
