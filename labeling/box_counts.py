# ruff: noqa: S608 - SQL built from this module's constants only, never from input
"""Box counts kept by the database on every write: what the health page and the project
page read instead of counting a million boxes per request.

Triggers (installed by migration 0008, PostgreSQL and SQLite) on every insert, update
and delete of a box, and on a change of an image's split, whatever made it (the editor,
an import, a merge, a cascade, raw SQL):

- ``BoxCount`` gets append-only delta rows per (project, class, split): boxes, boxes per
  COCO area bucket (small < 32x32 <= medium < 96x96 <= large) and per aspect-ratio
  bucket. Nobody updates a row in place, so concurrent saves never wait on each other.
  Reads sum the rows; a read that finds many compacts them into one per key, in one
  statement that deletes exactly the rows it sums (so a concurrent write or compaction
  is never counted twice).
- ``ImageBoxCount``: the number of boxes of each image that has any (a row per image;
  the image's own row is already locked by the save that changes its boxes).

No foreign keys: the triggers write rows while Django deletes what they count.
"""

from __future__ import annotations

from django.db import connection, transaction

from labeling.health_alerts import HUGE_FRACTION, TINY_FRACTION, TINY_PX
from labeling.models import BoxCount

BUCKETS = ("boxes", "small", "medium", "large", "a0", "a1", "a2", "a3", "a4", "a5", "tiny", "huge")
COMPACT_AFTER = 200  # rows per project


def box_counts(*, project_id: int) -> dict[tuple[int, str], dict[str, int]]:
    """{(category_id, split): {bucket: count}} of the project's boxes, in one or two
    queries whatever the number of boxes (three when it compacts first)."""
    rows = list(
        BoxCount.objects.filter(project_id=project_id).values_list("category_id", "split", *BUCKETS)
    )
    if len(rows) > COMPACT_AFTER:
        compact(project_id=project_id)
    counts: dict[tuple[int, str], dict[str, int]] = {}
    for category_id, split, *values in rows:
        total = counts.setdefault((category_id, split), dict.fromkeys(BUCKETS, 0))
        for name, value in zip(BUCKETS, values, strict=True):
            total[name] += value
    return counts


def compact(*, project_id: int) -> None:
    """Replace the project's delta rows by one row per (class, split) with their sums."""
    columns = ", ".join(BUCKETS)
    sums = ", ".join(f"SUM({name})" for name in BUCKETS)
    table = BoxCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH gone AS (DELETE FROM {table} WHERE project_id = %s RETURNING *) "
                f"INSERT INTO {table} (project_id, category_id, split, {columns}) "
                f"SELECT project_id, category_id, split, {sums} FROM gone "
                "GROUP BY project_id, category_id, split",
                [project_id],
            )
        else:  # SQLite: one writer at a time, so two statements are just as safe
            cursor.execute(f"SELECT MAX(id) FROM {table} WHERE project_id = %s", [project_id])
            (last,) = cursor.fetchone()
            cursor.execute(
                f"INSERT INTO {table} (project_id, category_id, split, {columns}) "
                f"SELECT project_id, category_id, split, {sums} FROM {table} "
                "WHERE project_id = %s AND id <= %s GROUP BY project_id, category_id, split",
                [project_id, last],
            )
            cursor.execute(
                f"DELETE FROM {table} WHERE project_id = %s AND id <= %s", [project_id, last]
            )


# --- The triggers (migration 0008) ---------------------------------------------------------

# A box's buckets, as SQL over a box alias ``a`` and its image's alias ``i``: the area and
# aspect rules of labeling/health.py, and labeling/health_alerts.py's tiny and huge boxes
# (its constants are baked into the triggers: a change of them needs a new migration).
_T, _F, _H = TINY_PX, TINY_FRACTION, HUGE_FRACTION
_TINY = (
    f"CASE WHEN {{a}}.w < {_T} OR {{a}}.h < {_T} OR {{a}}.w < {{i}}.width * {_F} "
    f"OR {{a}}.h < {{i}}.height * {_F} THEN 1 ELSE 0 END"
)
_HUGE = f"CASE WHEN {{a}}.area >= {{i}}.width * {{i}}.height * {_H} THEN 1 ELSE 0 END"
_BUCKET_SQL = (
    "1",
    "CASE WHEN {a}.area < 1024 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.area >= 1024 AND {a}.area < 9216 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.area >= 9216 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w < {a}.h * 0.25 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w >= {a}.h * 0.25 AND {a}.w < {a}.h * 0.5 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w >= {a}.h * 0.5 AND {a}.w < {a}.h THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w >= {a}.h AND {a}.w < {a}.h * 2 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w >= {a}.h * 2 AND {a}.w < {a}.h * 4 THEN 1 ELSE 0 END",
    "CASE WHEN {a}.w >= {a}.h * 4 THEN 1 ELSE 0 END",
    _TINY,
    _HUGE,
)
_INTO = f"INSERT INTO labeling_boxcount (project_id, category_id, split, {', '.join(BUCKETS)})"
_INTO_IMAGE = "INSERT INTO labeling_imageboxcount (image_id, boxes, tiny, huge)"


def _values(a: str, i: str, sign: str = "", *, sums: bool = True) -> str:
    parts = [expr.format(a=a, i=i) for expr in _BUCKET_SQL]
    return ", ".join(f"{sign}SUM({p})" if sums else f"{sign}{p}" for p in parts)


def _per_class(rows: str, sign: str) -> str:
    """Delta rows per (project, class, split) of the boxes of transition table ``rows``."""
    return (
        f"{_INTO} SELECT i.project_id, a.category_id, i.split, {_values('a', 'i', sign)} "
        f"FROM {rows} a JOIN labeling_image i ON i.id = a.image_id "
        "GROUP BY i.project_id, a.category_id, i.split"
    )


def _per_image(rows: str, sign: str) -> str:
    """(image_id, n, tiny, huge) per image of the boxes of transition table ``rows``."""
    tiny, huge = _TINY.format(a="a", i="i"), _HUGE.format(a="a", i="i")
    return (
        f"SELECT a.image_id, {sign}COUNT(*) AS n, {sign}SUM({tiny}) AS t, {sign}SUM({huge}) AS h "
        f"FROM {rows} a JOIN labeling_image i ON i.id = a.image_id GROUP BY a.image_id"
    )


_PG_FUNCTIONS = f"""
CREATE FUNCTION labeling_box_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_per_class("added", "")};
  {_INTO_IMAGE} SELECT image_id, n, t, h FROM ({_per_image("added", "")}) d ORDER BY image_id
    ON CONFLICT (image_id) DO UPDATE SET boxes = labeling_imageboxcount.boxes + EXCLUDED.boxes,
      tiny = labeling_imageboxcount.tiny + EXCLUDED.tiny,
      huge = labeling_imageboxcount.huge + EXCLUDED.huge;
  RETURN NULL;
END $$;
CREATE FUNCTION labeling_box_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_per_class("removed", "-")};
  UPDATE labeling_imageboxcount c SET boxes = c.boxes + d.n, tiny = c.tiny + d.t,
      huge = c.huge + d.h
    FROM ({_per_image("removed", "-")}) d WHERE c.image_id = d.image_id;
  DELETE FROM labeling_imageboxcount WHERE boxes <= 0
    AND image_id IN (SELECT image_id FROM removed);
  RETURN NULL;
END $$;
CREATE FUNCTION labeling_box_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM removed r JOIN added n ON n.id = r.id
             WHERE n.image_id <> r.image_id) THEN
    RAISE EXCEPTION 'moving a box to another image is not supported by the box counts';
  END IF;
  {_per_class("removed", "-")};
  {_per_class("added", "")};
  UPDATE labeling_imageboxcount c SET tiny = c.tiny + d.t, huge = c.huge + d.h
    FROM (SELECT image_id, SUM(t) AS t, SUM(h) AS h FROM (
      {_per_image("removed", "-")} UNION ALL {_per_image("added", "")}) both_sides
      GROUP BY image_id) d
    WHERE c.image_id = d.image_id;
  RETURN NULL;
END $$;
CREATE FUNCTION labeling_box_counts_split() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_INTO}
    SELECT o.project_id, a.category_id, o.split, {_values("a", "o", "-")}
    FROM removed o JOIN added n ON n.id = o.id AND n.split <> o.split
    JOIN labeling_annotation a ON a.image_id = o.id
    GROUP BY o.project_id, a.category_id, o.split
    UNION ALL
    SELECT n.project_id, a.category_id, n.split, {_values("a", "n")}
    FROM removed o JOIN added n ON n.id = o.id AND n.split <> o.split
    JOIN labeling_annotation a ON a.image_id = n.id
    GROUP BY n.project_id, a.category_id, n.split;
  RETURN NULL;
END $$;
"""

PG_INSTALL = (
    _PG_FUNCTIONS
    + """
CREATE TRIGGER labeling_box_counts_insert AFTER INSERT ON labeling_annotation
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION labeling_box_counts_insert();
CREATE TRIGGER labeling_box_counts_delete AFTER DELETE ON labeling_annotation
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
  EXECUTE FUNCTION labeling_box_counts_delete();
CREATE TRIGGER labeling_box_counts_update AFTER UPDATE ON labeling_annotation
  REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION labeling_box_counts_update();
CREATE TRIGGER labeling_box_counts_split AFTER UPDATE ON labeling_image
  REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT
  EXECUTE FUNCTION labeling_box_counts_split();
"""
)

PG_REMOVE = """
DROP TRIGGER IF EXISTS labeling_box_counts_insert ON labeling_annotation;
DROP TRIGGER IF EXISTS labeling_box_counts_delete ON labeling_annotation;
DROP TRIGGER IF EXISTS labeling_box_counts_update ON labeling_annotation;
DROP TRIGGER IF EXISTS labeling_box_counts_split ON labeling_image;
DROP FUNCTION IF EXISTS labeling_box_counts_insert();
DROP FUNCTION IF EXISTS labeling_box_counts_delete();
DROP FUNCTION IF EXISTS labeling_box_counts_update();
DROP FUNCTION IF EXISTS labeling_box_counts_split();
"""


def _sqlite_row(a: str, sign: str) -> str:
    """The delta row of one box (``NEW`` or ``OLD``) in a SQLite row trigger."""
    return (
        f"{_INTO} SELECT i.project_id, {a}.category_id, i.split, "
        f"{_values(a, 'i', sign, sums=False)} FROM labeling_image i WHERE i.id = {a}.image_id"
    )


def _sqlite_flag(expr: str, a: str) -> str:
    return f"(SELECT {expr.format(a=a, i='i')} FROM labeling_image i WHERE i.id = {a}.image_id)"


# SQLite: one trigger per row (statement triggers with transition tables do not exist).
SQLITE_INSTALL = [
    f"""CREATE TRIGGER labeling_box_counts_insert AFTER INSERT ON labeling_annotation BEGIN
      {_sqlite_row("NEW", "")};
      {_INTO_IMAGE} SELECT NEW.image_id, 1, {_TINY.format(a="NEW", i="i")},
        {_HUGE.format(a="NEW", i="i")} FROM labeling_image i WHERE i.id = NEW.image_id
        ON CONFLICT (image_id) DO UPDATE SET boxes = boxes + 1, tiny = tiny + excluded.tiny,
        huge = huge + excluded.huge;
    END""",
    f"""CREATE TRIGGER labeling_box_counts_delete AFTER DELETE ON labeling_annotation BEGIN
      {_sqlite_row("OLD", "-")};
      UPDATE labeling_imageboxcount SET boxes = boxes - 1,
        tiny = tiny - {_sqlite_flag(_TINY, "OLD")}, huge = huge - {_sqlite_flag(_HUGE, "OLD")}
        WHERE image_id = OLD.image_id;
      DELETE FROM labeling_imageboxcount WHERE image_id = OLD.image_id AND boxes <= 0;
    END""",
    f"""CREATE TRIGGER labeling_box_counts_update AFTER UPDATE ON labeling_annotation BEGIN
      SELECT RAISE(ABORT, 'moving a box to another image is not supported by the box counts')
        WHERE NEW.image_id <> OLD.image_id;
      {_sqlite_row("OLD", "-")};
      {_sqlite_row("NEW", "")};
      UPDATE labeling_imageboxcount
        SET tiny = tiny - {_sqlite_flag(_TINY, "OLD")} + {_sqlite_flag(_TINY, "NEW")},
        huge = huge - {_sqlite_flag(_HUGE, "OLD")} + {_sqlite_flag(_HUGE, "NEW")}
        WHERE image_id = NEW.image_id;
    END""",
    f"""CREATE TRIGGER labeling_box_counts_split AFTER UPDATE OF split ON labeling_image
      WHEN NEW.split <> OLD.split BEGIN
      {_INTO} SELECT OLD.project_id, a.category_id, OLD.split, {_values("a", "OLD", "-")}
        FROM labeling_annotation a WHERE a.image_id = OLD.id GROUP BY a.category_id;
      {_INTO} SELECT NEW.project_id, a.category_id, NEW.split, {_values("a", "NEW")}
        FROM labeling_annotation a WHERE a.image_id = NEW.id GROUP BY a.category_id;
    END""",
]
SQLITE_REMOVE = [
    f"DROP TRIGGER IF EXISTS labeling_box_counts_{name}"
    for name in ("insert", "delete", "update", "split")
]

# The counts of the boxes already there when the triggers are installed.
BACKFILL = (
    _per_class("labeling_annotation", ""),
    f"{_INTO_IMAGE} SELECT image_id, n, t, h FROM ({_per_image('labeling_annotation', '')}) d",
)


def install(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": [PG_INSTALL], "sqlite": SQLITE_INSTALL}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"box counts have no triggers for {vendor}")
    for statement in [*BACKFILL, *statements]:
        schema_editor.execute(statement, params=None)


def remove(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for statement in [PG_REMOVE] if vendor == "postgresql" else SQLITE_REMOVE:
        schema_editor.execute(statement, params=None)
