"""Fixtures for the format converters: tiny real images, a sample dataset, a round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from labeling import formats
from labeling.formats import Box, Dataset, ImageRecord

DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"

MakeImage = Callable[..., Path]


@pytest.fixture
def bccd() -> Path:
    """The real BCCD Pascal VOC dataset, read in place."""
    return DATASETS / "bccd-voc"


@pytest.fixture
def rabbit() -> Path:
    """The real (messy) Roboflow COCO export of rabbits, read in place."""
    return DATASETS / "rabbit-roboflow"


@pytest.fixture
def make_image() -> MakeImage:
    """Write a small real image file; ``exif_orientation`` adds that EXIF tag."""

    def make(path: Path, size: tuple[int, int] = (64, 48), exif_orientation: int = 0) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", size, (120, 80, 40))
        if exif_orientation:
            exif = Image.Exif()
            exif[0x0112] = exif_orientation
            image.save(path, exif=exif.tobytes())
        else:
            image.save(path)
        return path

    return make


@pytest.fixture
def sample_dataset(tmp_path: Path, make_image: MakeImage) -> Dataset:
    """Four images: every split and none, edge-touching boxes, an empty and a bare image."""
    source = tmp_path / "source"
    specs = [
        ("a.jpg", (64, 48), "train", [Box("cat", 0, 0, 64, 48), Box("dog", 10, 5, 20, 30)], False),
        ("b.png", (50, 40), "val", [Box("dog", 3, 4, 17, 9), Box("dog", 40, 30, 10, 10)], False),
        ("c.jpg", (32, 32), "test", [], True),
        ("d.jpg", (40, 30), None, [Box("cat", 1, 2, 3, 4)], False),
        ("e.jpg", (40, 30), "train", [], False),
    ]
    images = [
        ImageRecord(
            file_name=name,
            path=make_image(source / name, size),
            width=size[0],
            height=size[1],
            split=split,
            boxes=boxes,
            no_objects=no_objects,
        )
        for name, size, split, boxes, no_objects in specs
    ]
    return Dataset(classes=["cat", "dog", "bird"], images=images, name="sample")


RoundTrip = Callable[..., Dataset]


@pytest.fixture
def round_trip(tmp_path: Path) -> RoundTrip:
    """Write a dataset in a format, read it back (format detected), compare.

    ``tolerance`` is in pixels; ``classes`` is the class list expected back;
    ``keeps_no_objects`` says whether the format tells "no objects" from "not labeled".
    """

    def check(
        dataset: Dataset,
        format: str,
        *,
        tolerance: float = 0.0,
        classes: list[str] | None = None,
        keeps_no_objects: bool = True,
    ) -> Dataset:
        out = tmp_path / f"export-{format}"
        destinations = formats.write(dataset, out, format)
        assert all(destination.is_file() for destination in destinations)
        assert formats.detect_format(out) == format
        again = formats.read(out)
        assert again.format == format
        assert len(again.report) == 0, again.report.problems
        assert again.classes == (classes if classes is not None else dataset.classes)
        by_name = {image.name: image for image in again.images}
        assert sorted(by_name) == sorted(image.name for image in dataset.images)
        for image in dataset.images:
            copy = by_name[image.name]
            assert copy.path is not None
            assert copy.path.read_bytes() == image.path.read_bytes()
            assert (copy.width, copy.height, copy.split) == (image.width, image.height, image.split)
            expected_flag = image.no_objects if keeps_no_objects else not image.boxes
            assert copy.no_objects == expected_flag, image.name
            assert len(copy.boxes) == len(image.boxes)
            for got, want in zip(sorted(copy.boxes), sorted(image.boxes), strict=True):
                assert got.label == want.label
                for a, b in zip(got[1:], want[1:], strict=True):
                    assert abs(a - b) <= tolerance, (image.name, got, want)
        return again

    return check
