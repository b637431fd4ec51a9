"""ImageBoxCount.image_id becomes a one-to-one field to Image (without a constraint) so
that queries can LEFT JOIN it; the column and its rows stay."""

import django.db.models.deletion
from django.db import migrations, models


def widen(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # SQLite integers are 64-bit already
        schema_editor.execute(
            "ALTER TABLE labeling_imageboxcount ALTER COLUMN image_id TYPE bigint"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0008_box_counts_kept_on_write"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="imageboxcount", name="image_id"),
                migrations.AddField(
                    model_name="imageboxcount",
                    name="image",
                    field=models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="box_tally",
                        serialize=False,
                        to="labeling.image",
                    ),
                    preserve_default=False,
                ),
            ],
            database_operations=[migrations.RunPython(widen, migrations.RunPython.noop)],
        ),
    ]
