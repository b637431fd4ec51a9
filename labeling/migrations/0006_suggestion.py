"""Suggestions are labeling's now: the table training made (training_suggestion) and its
rows are adopted as they are; only Django's record of which app owns them changes
(training 0005 runs first and lets go of them)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0005_annotationchange_kind_import"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Suggestion",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("job_id", models.BigIntegerField(db_index=True)),
                        ("model_id", models.BigIntegerField()),
                        ("model_version", models.PositiveIntegerField()),
                        ("x", models.FloatField()),
                        ("y", models.FloatField()),
                        ("w", models.FloatField()),
                        ("h", models.FloatField()),
                        ("score", models.FloatField()),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("accepted", "Accepted"),
                                    ("rejected", "Rejected"),
                                    ("superseded", "Superseded"),
                                ],
                                default="pending",
                                max_length=12,
                            ),
                        ),
                        ("decided_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "annotation",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="labeling.annotation",
                            ),
                        ),
                        (
                            "category",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="suggestions",
                                to="labeling.category",
                            ),
                        ),
                        (
                            "decided_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "image",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="suggestions",
                                to="labeling.image",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "training_suggestion",
                        "ordering": ["image_id", "-score", "id"],
                        "indexes": [
                            models.Index(fields=["image", "status"], name="suggestion_image_status")
                        ],
                    },
                ),
            ],
        ),
    ]
