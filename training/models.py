from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.models import Project


class DatasetVersion(models.Model):
    """An immutable snapshot of a project's labeled images, boxes, classes and splits.

    Stored as one COCO JSON file (its sha256 is ``content_hash``); two runs on unchanged
    data share a version.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    content_hash = models.CharField(max_length=64)
    coco_file = models.FileField(max_length=300)
    image_count = models.PositiveIntegerField()
    box_count = models.PositiveIntegerField()
    class_names = models.JSONField(default=list)
    split_counts = models.JSONField(default=dict)  # {"train": n, "val": n, "test": n}
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="one_version_per_hash")
        ]

    def __str__(self) -> str:
        return f"dataset {self.content_hash[:12]} of project {self.project_id}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"  # its worker was lost; it will be resumed


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
FREEZING = "freezing dataset"  # a run's first phase, while its worker freezes the data


class TrainingRun(models.Model):
    """One training run. The row, not the broker, is the source of truth of its state."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    # None until the worker has frozen the data (the run's first phase, FREEZING).
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.RESTRICT, related_name="runs"
    )
    config = models.JSONField(default=dict)  # training.ml.config.TrainConfig.to_dict()
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    request_key = models.CharField(max_length=64, blank=True)  # one run per double click
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    phase = models.CharField(max_length=32, blank=True)  # preparing, training, evaluating...
    epoch = models.PositiveIntegerField(default=0)
    epochs = models.PositiveIntegerField(default=0)
    resumed_from_epoch = models.PositiveIntegerField(null=True, blank=True)
    elapsed_seconds = models.FloatField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    # Within the current phase, recorded every few seconds (training/progress.py):
    # decoding {images, images_total}; training {epoch, step, steps, images,
    # images_total, images_per_second, loss}.
    progress = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list)  # one record per epoch: losses, val metrics
    loss_points = models.JSONField(default=list)  # [[global step, loss], ...], thinned
    device = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Set anew by every claim (training.pipeline.claim); a worker's writes of the run are
    # refused once the row holds another claim's token, so two workers never both train it.
    claim_token = models.CharField(max_length=32, blank=True)
    # The claiming process, as training.workers.process_key() names it: tells a worker
    # known dead (its process is gone) from one that is only silent.
    worker_key = models.CharField(max_length=200, blank=True)
    checkpoint_file = models.CharField(max_length=300, blank=True)  # in default storage
    checkpoint_sha256 = models.CharField(max_length=64, blank=True)
    checkpoint_epoch = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)  # in words, for the run page
    log_tail = models.TextField(blank=True)
    result = models.JSONField(default=dict)  # final status and metrics
    # The model version it fine-tunes from (training/start_from.py); None: from the
    # ImageNet backbone, or that version was deleted since (``started_from`` remains).
    start_model = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Its snapshot: {"model_id", "project_id", "project", "version", "preset", "classes":
    # {"matched", "new", "dropped"}}; {} for a run from the ImageNet backbone.
    started_from = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "request_key"],
                condition=~models.Q(request_key=""),
                name="one_run_per_request_key",
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat")]

    def __str__(self) -> str:
        return f"run {self.pk} of project {self.project_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def done_share(self) -> float | None:
        """Share of the run done: elapsed against elapsed plus the measured remaining time
        (None while there is no estimate yet). The run page computes the same in JS."""
        if self.status == RunStatus.SUCCEEDED:
            return 1.0
        if self.is_finished or self.eta_seconds is None:
            return None
        total = self.elapsed_seconds + self.eta_seconds
        return self.elapsed_seconds / total if total > 0 else 0.0


class Reconciler(models.Model):
    """The reconciler's memory between its ticks (one row, training/reconcile.py).

    ``watching_since``: since when it has reached the database without a gap. A heartbeat
    that could not be written while the database was away must not make a run look lost,
    so the heartbeat timeout never counts from before this moment.
    """

    ticked_at = models.DateTimeField()
    watching_since = models.DateTimeField()

    def __str__(self) -> str:
        return f"reconciler (watching since {self.watching_since:%Y-%m-%d %H:%M:%S})"


class ModelVersion(models.Model):
    """A trained, evaluated and exported model: what a user reviews and downloads."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    run = models.OneToOneField(TrainingRun, on_delete=models.CASCADE, related_name="model_version")
    version = models.PositiveIntegerField()
    onnx_file = models.CharField(max_length=300)  # in default storage
    onnx_sha256 = models.CharField(max_length=64)
    onnx_bytes = models.PositiveBigIntegerField(default=0)
    checkpoint_file = models.CharField(max_length=300)
    evaluation = models.JSONField(default=dict)  # training.ml.evaluate report
    metrics = models.JSONField(default=dict)  # headline numbers
    export = models.JSONField(default=dict)  # metadata and parity of the ONNX export
    threshold = models.FloatField(default=0.3)
    # The label audit of the evaluation (training/label_audit.py): confident detections
    # far from every labelled box, possibly missing labels; {} when none was run.
    label_audit = models.JSONField(default=dict, blank=True)
    # {"<class name>": threshold}: optional per-class overrides of ``threshold``
    class_thresholds = models.JSONField(default=dict, blank=True)
    is_production = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True)  # the user's, e.g. "night shots"
    notes = models.TextField(max_length=5000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="one_model_version_number")
        ]

    def __str__(self) -> str:
        return f"model v{self.version} of project {self.project_id}"


class DeletedModelVersion(models.Model):
    """A model version someone deleted (its files with it): its number is never given to
    a later model of the project, so "v3" always means the same model."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=100, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "-version"]

    def __str__(self) -> str:
        return f"deleted model v{self.version} of project {self.project_id}"


# --- Model-assisted labeling (training/prelabel.py; its suggestions: labeling/suggestions.py) -


class PrelabelStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


PRELABEL_FINISHED = (PrelabelStatus.SUCCEEDED, PrelabelStatus.FAILED, PrelabelStatus.CANCELLED)


class PrelabelJob(models.Model):
    """One "pre-label with model" job: a model version run over a set of a project's images.

    A worker runs it (training/prelabel.py); the row is the source of truth of its state
    and progress. ``image_ids`` is the set of images, frozen when the worker first takes
    the job (so a redelivered job does the same images, skipping those already done).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prelabel_jobs")
    model = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="prelabel_jobs")
    status = models.CharField(
        max_length=12, choices=PrelabelStatus.choices, default=PrelabelStatus.QUEUED
    )
    # None: the model's saved threshold with its per-class overrides.
    threshold = models.FloatField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)  # image filters, as the image list's
    image_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    suggestion_count = models.PositiveIntegerField(default=0)
    failed_images = models.PositiveIntegerField(default=0)  # unreadable files, skipped
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pre-label job {self.pk} of project {self.project_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in PRELABEL_FINISHED


class PrelabelResult(models.Model):
    """What a job's model made of one image: how unsure it was (for "label next most
    useful") and how many boxes it suggested. One per job and image."""

    job = models.ForeignKey(PrelabelJob, on_delete=models.CASCADE, related_name="results")
    image = models.ForeignKey("labeling.Image", on_delete=models.CASCADE, related_name="+")
    uncertainty = models.FloatField()  # 0..1, 1 = a detection right at its threshold
    borderline = models.PositiveIntegerField(default=0)  # detections near their threshold
    suggested = models.PositiveIntegerField(default=0)
    max_score = models.FloatField(default=0)
    # Its place in "label next most useful" (1 = first), stored when the job ends.
    rank = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "image"], name="one_result_per_job_image")
        ]
        indexes = [
            models.Index(fields=["job", "-uncertainty"], name="result_job_uncertainty"),
            models.Index(fields=["job", "rank"], name="result_job_rank"),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} image {self.image_id}: {self.uncertainty:.2f}"
