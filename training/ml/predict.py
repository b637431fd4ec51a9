"""Inference: uint8 images in, detections in input pixels out.

:class:`InferenceModel` holds the whole deployed computation (resize, normalise,
network, box decoding, NMS) as one batched module. Validation, evaluation and the
ONNX export all run this same module, so the exported graph is what was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms

from training.ml.data import CocoDetection
from training.ml.errors import Cancelled

Detections = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


TIE_BREAK = 1e-4  # at most this much added to a score, for NMS's ordering only


class InferenceModel(nn.Module):
    """Wrap a trained FCOS for deployment.

    Input: ``images`` uint8 ``(B, 3, H, W)`` RGB, any height and width. Output:
    ``boxes`` ``(N, 4)`` XYXY in input pixels, ``scores`` ``(N,)``, ``labels`` ``(N,)``
    (contiguous class index) and ``batch_index`` ``(N,)`` (which image), sorted by
    decreasing score within each image, at most ``max_detections`` per image.
    """

    def __init__(
        self,
        detector: FCOS,
        image_size: int,
        *,
        score_threshold: float = 0.05,
        nms_iou: float = 0.6,
        topk: int = 1000,
        max_detections: int = 100,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.image_size = image_size
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.topk = topk
        self.max_detections = max_detections
        transform = detector.transform
        self.register_buffer("mean", torch.tensor(transform.image_mean).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(transform.image_std).view(1, 3, 1, 1), False)
        self.register_buffer("anchors", self._anchors(), False)

    @torch.no_grad()
    def _anchors(self) -> torch.Tensor:
        device = next(self.detector.parameters()).device
        x = torch.zeros(1, 3, self.image_size, self.image_size, device=device)
        was_training = self.detector.training
        self.detector.eval()
        features = list(self.detector.backbone(x).values())
        self.detector.train(was_training)
        image_list = ImageList(x, [(self.image_size, self.image_size)])
        return self.detector.anchor_generator(image_list, features)[0]

    def forward(self, images: torch.Tensor) -> Detections:
        size = self.image_size
        x = images.to(torch.float32) / 255.0
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        features = list(self.detector.backbone(x).values())
        head = self.detector.head(features)
        scores = torch.sqrt(torch.sigmoid(head["cls_logits"]) * torch.sigmoid(head["bbox_ctrness"]))
        num_classes = scores.shape[-1]
        flat = scores.flatten(1)
        top_scores, top_index = _top_candidates(flat, min(self.topk, flat.shape[1]))
        anchor_index = torch.div(top_index, num_classes, rounding_mode="floor")
        labels = top_index % num_classes
        boxes = self.detector.box_coder.decode(head["bbox_regression"], self.anchors)
        boxes = torch.gather(boxes, 1, anchor_index.unsqueeze(-1).expand(-1, -1, 4))

        keep = top_scores > self.score_threshold
        batch_index = keep.nonzero()[:, 0]
        boxes, scores, labels = boxes[keep], top_scores[keep], labels[keep]
        boxes = boxes.clamp(min=0.0, max=float(size))
        shape = torch._shape_as_tensor(images).to(torch.float32)
        scale = (torch.stack([shape[3], shape[2], shape[3], shape[2]]) / size).to(boxes.device)
        boxes = boxes * scale

        # Exactly tied scores (identical logits, e.g. over flat background) leave NMS's
        # order, and so its survivors, to each runtime. A tiny bonus from the box position
        # breaks ties the same way in PyTorch and ONNX Runtime; reported scores are unchanged.
        side = float(size) * 11.0
        position = boxes[:, 0] + 2.0 * boxes[:, 1] + 3.0 * boxes[:, 2] + 5.0 * boxes[:, 3]
        nms_scores = scores + TIE_BREAK * position / (side * scale.max())
        order = batched_nms(boxes, nms_scores, batch_index * num_classes + labels, self.nms_iou)
        boxes, scores, labels, batch_index = (
            boxes[order],
            scores[order],
            labels[order],
            batch_index[order],
        )
        # Rank of each detection within its image (they are sorted by score).
        same_image = (batch_index.unsqueeze(1) == batch_index.unsqueeze(0)).to(torch.float32)
        rank = same_image.tril(-1).sum(1)
        keep = rank < self.max_detections
        return boxes[keep], scores[keep], labels[keep], batch_index[keep]


def _top_candidates(flat: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best scores of each row, equal scores taken in index order.

    ONNX's TopK breaks ties by the lower index (the exported graph uses it);
    ``torch.topk`` may pick any of them, so in PyTorch a stable sort does it. Flat
    image regions give many exactly equal scores: in a 15-minute BCCD run the cut at
    ``k`` fell inside such a group and the two runtimes kept different boxes.
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return flat.topk(k, dim=1)
    scores, index = flat.sort(dim=1, descending=True, stable=True)
    return scores[:, :k], index[:, :k]


def split_by_image(detections: Detections, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Turn the flat batched outputs into one dict of boxes/scores/labels per image."""
    boxes, scores, labels, batch_index = detections
    return [
        {
            "boxes": boxes[batch_index == i],
            "scores": scores[batch_index == i],
            "labels": labels[batch_index == i],
        }
        for i in range(batch_size)
    ]


def _same_size_batches(
    dataset: CocoDetection, batch_size: int
) -> Iterator[tuple[list[int], torch.Tensor]]:
    indices: list[int] = []
    images: list[torch.Tensor] = []
    for index in range(len(dataset)):
        image = dataset.load_image(index)
        if images and (image.shape != images[0].shape or len(images) == batch_size):
            yield indices, torch.stack(images)
            indices, images = [], []
        indices.append(index)
        images.append(image)
    if images:
        yield indices, torch.stack(images)


@torch.no_grad()
def predict_dataset(
    model: InferenceModel,
    dataset: CocoDetection,
    *,
    batch_size: int = 4,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Run ``model`` over every image of ``dataset``.

    Returns one dict per image with ``image_id`` and plain lists ``boxes`` (XYXY
    pixels of the image file, whatever size the data set decodes it at), ``scores``
    and ``category_ids`` (COCO ids), ready for evaluation.
    ``should_stop`` is asked before every batch; raises Cancelled when it says so.
    """
    was_training = model.training
    model.eval()
    device = model.anchors.device
    results = []
    for indices, images in _same_size_batches(dataset, batch_size):
        if should_stop is not None and should_stop():
            model.train(was_training)
            raise Cancelled(f"stopped after predicting {len(results)} of {len(dataset)} images")
        per_image = split_by_image(model(images.to(device)), len(indices))
        for index, det in zip(indices, per_image, strict=True):
            # In the file's pixels, also when the data set decodes images smaller.
            height, width = dataset.original_size(index)
            scale = [width / images.shape[-1], height / images.shape[-2]] * 2
            boxes = det["boxes"].cpu()
            if scale != [1.0] * 4:
                boxes = boxes * torch.tensor(scale)
            results.append(
                {
                    "image_id": int(dataset.images[index]["id"]),
                    "boxes": boxes.tolist(),
                    "scores": det["scores"].cpu().tolist(),
                    "category_ids": [dataset.category_ids[i] for i in det["labels"].tolist()],
                }
            )
    model.train(was_training)
    return results
