"""Pascal VOC XML: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/{split}.txt``.

VOC corners are 1-based pixel indices, both inclusive: ``xmin=1, xmax=640`` covers all of
a 640-pixel-wide image, so ``x = xmin - 1`` and ``w = xmax - xmin + 1``; the writer
inverts this exactly. A box whose corners coincide on an axis (``xmax <= xmin``) has no
area as VOC tools measure it and is reported and dropped. CVAT's ``labelmap.txt``, when
present, gives the class order (our writer writes one). XML goes through defusedxml, so
entity expansion ("billion laughs") and external entities are refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - only to build XML; parsing uses defusedxml
from collections.abc import Iterator
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.paths import IMAGE_SUFFIXES, is_inside
from labeling.formats.records import (
    SPLITS,
    Dataset,
    FormatError,
    ImageRecord,
    ProblemKind,
    Split,
)

FORMAT = "voc"
LABELMAP = "labelmap.txt"


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".xml" and _is_voc_xml(path)
    return any(True for _ in _voc_roots(path))


def read(path: Path) -> Dataset:
    path = Path(path)
    if path.is_file():
        voc_root = path.parent.parent if path.parent.name == "Annotations" else path.parent
        groups = [(voc_root, [path])]
    else:
        voc_root = path
        groups = list(_voc_roots(path))
        if not groups:
            raise FormatError(f"no Pascal VOC annotation (Annotations/*.xml) in {path}")
    builder = DatasetBuilder(voc_root, format=FORMAT, classes=_labelmap(groups))
    parsed = 0
    for folder, files in groups:
        splits = _splits(folder)
        for file in files:
            parsed += _read_file(builder, folder, file, splits)
    if parsed == 0:
        raise FormatError("none of the VOC annotation files could be read; see the report")
    return builder.build()


def write(dataset: Dataset, out_dir: Path) -> list[Path]:
    """Write Annotations/, JPEGImages/, ImageSets/Main/ and labelmap.txt."""
    out = prepare_folder(out_dir)
    check_classes(dataset)
    (out / "Annotations").mkdir()
    destinations: list[Path] = []
    split_ids: dict[Split, list[str]] = {split: [] for split in SPLITS}
    for image, name in zip(dataset.images, export_names(dataset.images), strict=True):
        destinations.append(place_image(image, out / "JPEGImages" / name))
        stem = Path(name).stem
        tree = ET.ElementTree(_annotation(image, name))
        ET.indent(tree)
        tree.write(out / "Annotations" / f"{stem}.xml", encoding="utf-8")
        if image.split:
            split_ids[image.split].append(stem)
    if any(split_ids.values()):
        main = out / "ImageSets" / "Main"
        main.mkdir(parents=True)
        for split, ids in split_ids.items():
            (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    lines += [f"{name}:::" for name in dataset.classes]
    (out / LABELMAP).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return destinations


def _annotation(image: ImageRecord, name: str) -> ET.Element:
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for box in image.boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = box.label
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        corners = (
            ("xmin", round(box.x) + 1),
            ("ymin", round(box.y) + 1),
            ("xmax", round(box.x + box.w)),
            ("ymax", round(box.y + box.h)),
        )
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in corners:
            ET.SubElement(bndbox, tag).text = str(value)
    return root


def _is_voc_xml(file: Path) -> bool:
    try:
        with file.open("rb") as handle:
            return b"<annotation" in handle.read(4096)
    except OSError:
        return False


def _voc_roots(folder: Path) -> Iterator[tuple[Path, list[Path]]]:
    """(VOC root, its annotation files) for the folder itself or its sub-folders."""
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    found = False
    for candidate in candidates:
        annotations = candidate / "Annotations"
        if annotations.is_dir():
            found = True
            files = sorted(f for f in annotations.glob("*.xml") if is_inside(f, folder))
            yield candidate, files
    if not found:
        flat = [f for f in sorted(folder.glob("*.xml")) if is_inside(f, folder) and _is_voc_xml(f)]
        if flat:
            yield folder, flat


def _labelmap(groups: list[tuple[Path, list[Path]]]) -> list[str] | None:
    for folder, _files in groups:
        file = folder / LABELMAP
        if file.is_file():
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            names = [line.split(":", 1)[0].strip() for line in lines if ":" in line]
            names = [n for n in names if n and not n.startswith("#") and n != "background"]
            return list(dict.fromkeys(names))
    return None


def _splits(folder: Path) -> dict[str, Split]:
    """Image id -> split from ImageSets/Main/{train,val,test}.txt (first listing wins)."""
    splits: dict[str, Split] = {}
    for split in SPLITS:
        file = folder / "ImageSets" / "Main" / f"{split}.txt"
        if file.is_file():
            for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.strip():
                    splits.setdefault(line.split()[0], split)
    return splits


def _read_file(builder: DatasetBuilder, folder: Path, file: Path, splits: dict) -> int:
    """Add the image one annotation file describes; 1 if the file could be parsed, else 0."""
    try:
        root = SafeET.parse(file, forbid_dtd=True).getroot()
    except (SafeET.ParseError, DefusedXmlException) as error:
        builder.problem(ProblemKind.BAD_ENTRY, file.name, f"unreadable XML: {error}")
        return 0
    if root.tag != "annotation":
        builder.problem(ProblemKind.BAD_ENTRY, file.name, "not a VOC file: no <annotation>")
        return 0
    filename = (root.findtext("filename") or "").strip()
    item = filename or file.name
    references = [f"JPEGImages/{filename}", filename] if filename else []
    if not Path(filename).suffix:  # no or a bare file name: try the usual image suffixes
        stem = Path(filename).name or file.stem
        references += [f"JPEGImages/{stem}{s}" for s in sorted(IMAGE_SUFFIXES)]
        references += [f"{stem}{s}" for s in sorted(IMAGE_SUFFIXES)]
    boxes = list(_boxes(builder, item, root))
    objects = root.findall("object")
    builder.add_image(
        references,
        bases=[folder, file.parent],
        width=_float(root.findtext("size/width")),
        height=_float(root.findtext("size/height")),
        split=splits.get(file.stem) or splits.get(Path(filename).stem),
        boxes=boxes,
        no_objects=not objects,
    )
    return 1


def _boxes(builder: DatasetBuilder, item: str, root: ET.Element) -> Iterator[RawBox]:
    for obj in root.findall("object"):
        label = (obj.findtext("name") or "").strip()
        corners = [
            _float(obj.findtext(f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax")
        ]
        if not label or None in corners:
            builder.problem(ProblemKind.BAD_ENTRY, item, "object without a name or bndbox")
            continue
        xmin, ymin, xmax, ymax = corners  # type: ignore[misc]
        if xmax <= xmin or ymax <= ymin:
            builder.problem(
                ProblemKind.BOX_DEGENERATE,
                item,
                f"box of {label!r} has no area (xmin={xmin:g}, ymin={ymin:g}, "
                f"xmax={xmax:g}, ymax={ymax:g}); dropped",
            )
            continue
        yield (label, xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
