"""A project with a model and images to pre-label, shared by the pre-labeling tests."""

from __future__ import annotations

from pathlib import Path

from labeling import ingest
from labeling.models import Category, Image, Project


def add_images(project: Project, tiny_trained, indices=(1, 2, 3, 4)) -> list[Image]:
    """The synthetic training images (red and blue rectangles) as project images."""
    _, images, _ = tiny_trained
    sources = [
        ingest.Source(f"img_{i:03d}.png", Path(images) / f"img_{i:03d}.png") for i in indices
    ]
    results = ingest.images_ingest(project=project, sources=sources)
    assert all(r.status == "added" for r in results), results
    return list(Image.objects.filter(pk__in=[r.image_id for r in results]).order_by("pk"))


def add_categories(project: Project) -> dict[str, Category]:
    return {
        name: Category.objects.create(project=project, name=name, order=i)
        for i, name in enumerate(["red", "blue"])
    }
