from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ANNOTATOR = "annotator", "Annotator"
    VIEWER = "viewer", "Viewer"


class Project(models.Model):
    class TaskType(models.TextChoices):
        OBJECT_DETECTION = "object_detection", "Object detection"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    task_type = models.CharField(
        max_length=32, choices=TaskType.choices, default=TaskType.OBJECT_DETECTION
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")
        ]
        ordering = ["project_id", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class ImageStatus(models.TextChoices):
    UNLABELED = "unlabeled", "Unlabeled"
    IN_PROGRESS = "in_progress", "In progress"
    LABELED = "labeled", "Labeled"
    REVIEWED = "reviewed", "Reviewed"
    REJECTED = "rejected", "Rejected"


class Category(models.Model):
    """A class of objects in a project: boxes refer to it, so a rename keeps them."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#e6194b")  # "#rrggbb"
    shortcut = models.CharField(max_length=1, blank=True)  # one key; "" for none
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="one_category_name"),
            models.UniqueConstraint(
                fields=["project", "shortcut"],
                condition=~models.Q(shortcut=""),
                name="one_category_shortcut",
            ),
        ]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    """One image of a project, its pixels in the default storage (see labeling/ingest.py).

    ``file`` holds the pixels as displayed (EXIF orientation applied), so boxes refer to
    them; ``sha256`` is the hash of that file (the upload itself for JPEG, PNG and WebP
    without an EXIF turn): duplicates are found by it, and its storage path derives from it.
    ``annotation_version`` grows by one with every saved change of the image's boxes.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(max_length=300)
    thumbnail = models.FileField(max_length=300)
    original_name = models.CharField(max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    bytes = models.PositiveBigIntegerField()  # of the stored file
    format = models.CharField(max_length=8)  # jpeg, png or webp: what ``file`` holds
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    status = models.CharField(
        max_length=12, choices=ImageStatus.choices, default=ImageStatus.UNLABELED
    )
    no_objects = models.BooleanField(default=False)  # labeled as having nothing to box
    annotation_version = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labeled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labeled_at = models.DateTimeField(null=True, blank=True)
    # The annotator this image is assigned to (an annotation job), if any.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="one_image_per_hash"),
        ]
        indexes = [
            models.Index(fields=["project", "split", "id"], name="image_project_split"),
            models.Index(fields=["project", "status", "id"], name="image_project_status"),
            models.Index(fields=["project", "no_objects", "id"], name="image_project_no_objects"),
            models.Index(fields=["project", "assigned_to", "id"], name="image_project_assigned"),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def content_type(self) -> str:
        return IMAGE_CONTENT_TYPES[self.format]


# The formats an Image's file may hold (everything else is converted at ingest).
IMAGE_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class Annotation(models.Model):
    """A COCO record: one box of one category on one image, in the image's pixels."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="annotations")
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField()
    h = models.FloatField()
    area = models.FloatField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image_id", "id"]
        indexes = [
            # "images with a box of this class" (grid filter, health): one index probe.
            models.Index(fields=["category", "image"], name="annotation_category_image"),
        ]

    def __str__(self) -> str:
        return f"{self.category_id} [{self.x:g}, {self.y:g}, {self.w:g}, {self.h:g}]"

    @property
    def bbox(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]


class BoxCount(models.Model):
    """Delta counts of a project's boxes per class and split, appended by database
    triggers on every write of a box (labeling/box_counts.py); summed on read."""

    project_id = models.IntegerField()
    category_id = models.IntegerField()
    split = models.CharField(max_length=5)
    boxes = models.IntegerField(default=0)
    small = models.IntegerField(default=0)  # COCO's area rule: < 32x32
    medium = models.IntegerField(default=0)
    large = models.IntegerField(default=0)  # >= 96x96
    a0 = models.IntegerField(default=0)  # aspect buckets of labeling/health.py
    a1 = models.IntegerField(default=0)
    a2 = models.IntegerField(default=0)
    a3 = models.IntegerField(default=0)
    a4 = models.IntegerField(default=0)
    a5 = models.IntegerField(default=0)
    tiny = models.IntegerField(default=0)  # labeling/health_alerts.py's tiny and huge boxes
    huge = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["project_id"], name="boxcount_project")]

    def __str__(self) -> str:
        return f"{self.boxes:+d} boxes of class {self.category_id} in {self.split}"


class ImageBoxCount(models.Model):
    """How many boxes an image has (a row only while it has some), kept by triggers."""

    # No constraint: the triggers write it while Django deletes the image's boxes.
    image = models.OneToOneField(
        Image, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
        related_name="box_tally",
    )  # fmt: skip
    boxes = models.IntegerField()
    tiny = models.IntegerField(default=0)
    huge = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"image {self.image_id}: {self.boxes} boxes"


class AnnotationChange(models.Model):
    """One saved change of an image's boxes (labeling/annotations.py): append-only.

    ``before`` and ``after`` are the image's box lists around the change, each box
    ``{"id", "category_id", "bbox": [x, y, w, h], "area"}`` in original-image pixels;
    ``no_objects`` is the image's mark after the change. ``request_id`` is the client's
    id of the save (unique per image when given), so a repeated save is applied once.
    A revert is a change too, restoring the state around the change it names, and so is
    an import that gave boxes to an image without any (labeling/dataset_import.py).
    """

    class Kind(models.TextChoices):
        SAVE = "save", "Save"
        REVERT = "revert", "Revert"
        IMPORT = "import", "Import"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="changes")
    version = models.PositiveIntegerField()  # the image's annotation_version after it
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SAVE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    request_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(default=list)
    after = models.JSONField(default=list)
    no_objects_before = models.BooleanField(default=False)
    no_objects = models.BooleanField(default=False)
    reverted_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["image_id", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "request_id"],
                condition=~models.Q(request_id=""),
                name="one_change_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of image {self.image_id} to version {self.version}"


class DatasetImport(models.Model):
    """One import of labels (and their images) into a project, with its report.

    From the command it runs at once; from the API it is queued and a worker runs it
    (labeling/tasks.py): queued -> running -> succeeded or failed.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    source_name = models.CharField(max_length=255)
    format = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    error = models.TextField(blank=True)  # the reason of a failed import
    # A queued import's uploaded file in the default storage (removed once it has run).
    upload = models.CharField(max_length=300, blank=True)
    requested_format = models.CharField(max_length=16, default="auto")
    images_added = models.PositiveIntegerField(default=0)
    images_updated = models.PositiveIntegerField(default=0)  # existing images given boxes
    images_skipped = models.PositiveIntegerField(default=0)
    boxes_added = models.PositiveIntegerField(default=0)
    categories_added = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)  # ImportReport.to_dict(): summary and problems
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import of {self.source_name} into {self.project_id}: {self.status}"


class DatasetExport(models.Model):
    """One export prepared by a worker (labeling/export_jobs.py) into the default storage:
    queued -> running (images done of total) -> succeeded (file to download) or failed."""

    Status = DatasetImport.Status  # the same four states

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16)
    options = models.JSONField(default=dict)  # include_unlabeled, single_file
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    images_done = models.PositiveIntegerField(default=0)
    images_total = models.PositiveIntegerField(default=0)
    file = models.CharField(max_length=300, blank=True)  # name in the default storage
    size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)  # the reason of a failed export, in words
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.format} export of {self.project_id}: {self.status}"


# --- Model suggestions (labeling/suggestions.py, where the editor's contract is) ------------


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"  # a later job suggested again for the image


class Suggestion(models.Model):
    """A box a model proposed for an image: never a label until a person accepts it.

    Accepting it (in the annotation save, labeling/annotations.py) creates a normal
    Annotation (``annotation``) whose origin is kept in the AnnotationChange history.
    A pre-label job of the training app stores them (``suggestions_replace``); ``job_id``,
    ``model_id`` and ``model_version`` say where one came from, as plain numbers: labeling
    knows nothing of training. ``job_id`` is None for a candidate of the label audit of
    model ``model_id`` (``suggestion_propose``). The table keeps the name it had there.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="suggestions")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="suggestions")
    # The pre-label job that made it; None: the label audit of model ``model_id``.
    job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    model_id = models.BigIntegerField()  # the model version's id and number
    model_version = models.PositiveIntegerField()
    x = models.FloatField()
    y = models.FloatField()
    w = models.FloatField()
    h = models.FloatField()
    score = models.FloatField()
    status = models.CharField(
        max_length=12, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_suggestion"
        ordering = ["image_id", "-score", "id"]
        indexes = [models.Index(fields=["image", "status"], name="suggestion_image_status")]

    def __str__(self) -> str:
        return f"suggestion {self.pk} ({self.status}) on image {self.image_id}"

    @property
    def bbox(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]


# --- Notifications (labeling/notifications.py) -------------------------------------------


class Notification(models.Model):
    """Something that ended (a training run, a dataset import), told to one member of its
    project: listed under the top bar's bell on every page, unread until opened."""

    class Level(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        INFO = "info", "Info"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)  # what it is about, e.g. "run:12" (once per user)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300)  # a page of the studio
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_notification_per_event")
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return f"to {self.user_id}: {self.text}"
