"""Pascal VOC XML: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/{split}.txt``.

Published datasets rename those folders (``annotations/`` + ``images/`` as supervision
writes them, ``annots/``, ``labels/``, ``xml/``, any case), so the reader finds them by
content: a folder (down to three levels) whose XML files are ``<annotation>`` documents
holds annotations, and each image is looked up by its ``<filename>`` (in its
``<folder>``), its ``<path>`` and the XML file's own name, beside the XML, in the folder
above it and in that folder's sub-folders that hold images. The report's ``layout`` says
which folders were used.

VOC corners are 1-based pixel indices, both inclusive: ``xmin=1, xmax=640`` covers all of
a 640-pixel-wide image, so ``x = xmin - 1`` and ``w = xmax - xmin + 1``; the writer
inverts this exactly. A box whose corners coincide on an axis (``xmax <= xmin``) has no
area as VOC tools measure it and is reported and dropped. CVAT's ``labelmap.txt``, when
present, gives the class order (our writer writes one). XML goes through defusedxml, so
entity expansion ("billion laughs") and external entities are refused.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET  # noqa: S405 - only to build XML; parsing uses defusedxml
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from labeling.formats.builder import DatasetBuilder, RawBox
from labeling.formats.output import check_classes, export_names, place_image, prepare_folder
from labeling.formats.paths import IMAGE_SUFFIXES, folder_name, is_inside
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
_DEPTH = 3  # folder levels searched for XML files: dataset/, dataset/x/, dataset/x/y/
_SNIFFED = 3  # XML files of a folder read to tell whether the folder holds VOC
_XML_FOLDER_NAMES = {"annotations", "annots", "labels", "xml"}


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".xml" and _is_voc_xml(path)
    return bool(_groups(path))


def read(path: Path) -> Dataset:
    path = Path(path)
    if path.is_file():
        parent = path.parent
        root = parent.parent if parent.name.lower() in _XML_FOLDER_NAMES else parent
        groups = [_Group(parent, [path], root)]
    else:
        root = path
        groups = _groups(path)
        if not groups:
            raise FormatError(
                f"no Pascal VOC XML file (an <annotation> document) in {path} "
                f"or its folders, {_DEPTH} levels down"
            )
    builder = DatasetBuilder(root, format=FORMAT, classes=_labelmap(groups))
    parsed = 0
    for group in groups:
        builder.report.layout.append(
            f"annotations: {folder_name(group.folder, root)} ({len(group.files)} XML files)"
        )
        splits = _splits(group.voc_root)
        bases = _image_folders(group, root)
        for file in group.files:
            parsed += _read_file(builder, file, bases, splits)
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


@dataclass(frozen=True, slots=True)
class _Group:
    """A folder of VOC XML files and the VOC root it belongs to (ImageSets/, labelmap)."""

    folder: Path
    files: list[Path]
    voc_root: Path


def _groups(root: Path) -> list[_Group]:
    """The folders holding VOC XML (by content, whatever their name), down to _DEPTH levels.

    The VOC root of a folder of XML files is its parent (``Annotations/`` beside
    ``JPEGImages/``), or ``root`` itself when the XML files lie there.
    """
    groups = []
    level = [root]
    for _ in range(_DEPTH):
        next_level: list[Path] = []
        for folder in level:
            folders, xml = _entries(folder, root)
            next_level += folders
            if any(_is_voc_xml(file) for file in xml[:_SNIFFED]):
                groups.append(_Group(folder, xml, folder.parent if folder != root else root))
        level = next_level
    return groups


def _entries(folder: Path, root: Path) -> tuple[list[Path], list[Path]]:
    """The sub-folders and the .xml files of a folder, sorted; hidden entries and links
    leading out of ``root`` skipped."""
    folders: list[Path] = []
    xml: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__MACOSX":
                continue
            path = Path(entry.path)
            if entry.is_symlink() and not is_inside(path, root):
                continue
            if entry.is_dir():
                folders.append(path)
            elif entry.name.lower().endswith(".xml"):
                xml.append(path)
    return sorted(folders), sorted(xml)


def _image_folders(group: _Group, root: Path) -> list[Path]:
    """Where a group's images may be: beside the XML, in the VOC root, or in a folder (or
    a sub-folder of one) of the VOC root that holds images, whatever its name."""
    found = [group.folder, group.voc_root]
    level = [group.voc_root]
    for _ in range(2):
        next_level: list[Path] = []
        for folder in level:
            for sub in _entries(folder, root)[0]:
                if sub != group.folder and _has_images(sub):
                    found.append(sub)
                next_level.append(sub)
        level = next_level
    return list(dict.fromkeys(found))


def _has_images(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(
            entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            for entry in entries
        )


def _labelmap(groups: list[_Group]) -> list[str] | None:
    for group in groups:
        file = group.voc_root / LABELMAP
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


def _read_file(builder: DatasetBuilder, file: Path, bases: list[Path], splits: dict) -> int:
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
    boxes = list(_boxes(builder, filename or file.name, root))
    builder.add_image(
        _references(root, filename, file),
        bases=bases,
        width=_float(root.findtext("size/width")),
        height=_float(root.findtext("size/height")),
        split=splits.get(file.stem) or splits.get(Path(filename).stem),
        boxes=boxes,
        no_objects=not root.findall("object"),
    )
    return 1


def _references(root: ET.Element, filename: str, file: Path) -> list[str]:
    """The names to look the image up by: ``<filename>`` (in its ``<folder>``), ``<path>``
    and, last, the XML file's own stem with each image suffix (the VOC image id)."""
    folder = (root.findtext("folder") or "").strip()
    path = (root.findtext("path") or "").strip()
    references = [f"{folder}/{filename}"] if folder and filename else []
    references += [reference for reference in (filename, path) if reference]
    stems = [Path(filename).name] if filename and not Path(filename).suffix else []
    stems.append(file.stem)
    references += [f"{stem}{suffix}" for stem in stems for suffix in sorted(IMAGE_SUFFIXES)]
    return list(dict.fromkeys(references))


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
