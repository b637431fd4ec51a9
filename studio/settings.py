"""The studio's only settings file.

Every value comes from an environment variable with an embedded default that works after
a checkout (SQLite, local media and a broker that needs no server, all under
STUDIO_DATA_DIR). Production changes values, not code paths: see README.md.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from studio.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_str,
    require_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("STUDIO_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (a long random string, "
            "e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off (e.g. studio.example)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "studio",
    "labeling",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before the CSRF check, the first thing that may read a body (studio/request_limits.py).
    "studio.request_limits.RequestLimitsMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # With DEBUG on (make run), the studio's 404 page instead of Django's technical one.
    "studio.not_found.NotFoundPageMiddleware",
    # Last, so the first to see a view's exception: a database outage answers 503.
    "studio.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite under STUDIO_DATA_DIR unless DATABASE_URL says otherwise ---------
DATABASES = {
    "default": database_from_url("DATABASE_URL", f"sqlite:///{DATA_DIR / 'studio.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: WAL and a generous lock wait.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-studio.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a check: its password_changed hook revokes the user's API token (studio/passwords.py).
    {"NAME": "studio.passwords.TokenRevoker"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"
# Wrong logins: after AXES_FAILURE_LIMIT failures in a row from one client (IP address),
# that client is locked out for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("STUDIO_PROXY_COUNT", 0)
AXES_VERBOSE = False

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files and media ---------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
MEDIA_URL = "/media-not-served/"  # uploads are served by views that check membership

MEDIA_STORAGE = env_str("STUDIO_MEDIA_STORAGE", "local")
if MEDIA_STORAGE == "local":
    _media_backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
elif MEDIA_STORAGE == "s3":
    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured(
            "AWS_STORAGE_BUCKET_NAME must be set when STUDIO_MEDIA_STORAGE=s3"
        )
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None
    AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
    # "path" for servers that have no bucket subdomains (MinIO, Ceph, moto); empty: auto.
    AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE", "") or None
    # No ACL is sent: objects are private to the bucket's owner, as S3 makes them (and
    # buckets with ACLs disabled accept). Member-only files reach users through the
    # studio's permission-checked views, never a bucket URL.
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    # A file opened through the storage is spooled to a temporary file past 8 MB, not held
    # in memory (downloads and worker copies stream instead: studio/media.py). Uploads
    # past 8 MB go in multipart (boto3's default threshold).
    AWS_S3_MAX_MEMORY_SIZE = 8 * 1024 * 1024
    _media_backend = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    raise ImproperlyConfigured(f"STUDIO_MEDIA_STORAGE must be local or s3, got {MEDIA_STORAGE!r}")

STORAGES = {
    "default": _media_backend,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of every response (django-csp): scripts, styles and everything
# else from the studio itself only, no inline script or style (server data reaches pages
# through json_script), no plugins, no framing. Images may also be data: URLs (the API
# docs' stylesheet has one). Image files set their own, stricter policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool("STUDIO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# --- Image ingest (labeling/ingest.py, labeling/zips.py) -------------------------------
# Largest image file accepted, in bytes (30 MB).
STUDIO_MAX_IMAGE_BYTES = env_int("STUDIO_MAX_IMAGE_BYTES", 30 * 1024 * 1024, minimum=1024)
# Largest image accepted, in pixels (width x height): larger ones are refused as possible
# decompression bombs. Also set as Pillow's Image.MAX_IMAGE_PIXELS.
STUDIO_MAX_IMAGE_PIXELS = env_int("STUDIO_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
# Longest side of the thumbnails shown in grids, in pixels.
STUDIO_THUMBNAIL_SIZE = env_int("STUDIO_THUMBNAIL_SIZE", 256, minimum=32)
# Zip archives (uploads and dataset imports): limits on the total uncompressed size, the
# number of entries and the compression ratio of any entry; beyond them it is refused.
STUDIO_ZIP_MAX_BYTES = env_int("STUDIO_ZIP_MAX_BYTES", 4 * 1024**3, minimum=1024)
STUDIO_ZIP_MAX_ENTRIES = env_int("STUDIO_ZIP_MAX_ENTRIES", 50_000, minimum=1)
STUDIO_ZIP_MAX_RATIO = env_int("STUDIO_ZIP_MAX_RATIO", 200, minimum=1)
# Files in one multipart request (Django's default is 100): the upload page sends one per
# request, scripts may send many.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 1000, minimum=1)
# Largest request body of an image upload or a dataset import (other requests:
# DATA_UPLOAD_MAX_MEMORY_SIZE; studio/request_limits.py answers 413 beyond, unread).
STUDIO_MAX_UPLOAD_BYTES = env_int(
    "STUDIO_MAX_UPLOAD_BYTES", STUDIO_ZIP_MAX_BYTES + 1024 * 1024, minimum=1024
)

# --- Box saves (labeling/annotations.py) --------------------------------------------
# Most boxes on one image, and the largest JSON body of one save (2 MB), in bytes.
STUDIO_MAX_BOXES_PER_IMAGE = env_int("STUDIO_MAX_BOXES_PER_IMAGE", 5000, minimum=1)
STUDIO_MAX_ANNOTATION_BODY_BYTES = env_int(
    "STUDIO_MAX_ANNOTATION_BODY_BYTES", 2 * 1024 * 1024, minimum=1024
)

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "studio.pagination.LimitOffsetPagination",
    "DEFAULT_PARSER_CLASSES": [
        "studio.parsers.JSONParser",  # bounded depth, 64-bit integers, finite numbers
        "studio.parsers.FormParser",  # these two: whole numbers up to 64 bits
        "studio.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "studio.api_errors.exception_handler",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )
# The API's schema and docs page (/api/v1/schema, /api/v1/docs): logged-in users only
# unless this is on (studio/api_docs.py).
STUDIO_API_DOCS_PUBLIC = env_bool("STUDIO_API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Detection Studio API",
    "DESCRIPTION": "Projects, images, annotations, training runs and models. "
    "Authenticate with a session or with `Authorization: Token <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Several models have a `status` field: name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "WorkerCheckStatusEnum": "studio.models.WorkerCheck.Status",
        "ImageStatusEnum": "labeling.models.ImageStatus",
        "DatasetImportStatusEnum": "labeling.models.DatasetImport.Status",
        "RunStatusEnum": "training.models.RunStatus",
        "AnnotationChangeKindEnum": "labeling.models.AnnotationChange.Kind",
        "PrelabelStatusEnum": "training.models.PrelabelStatus",
        "SuggestionStatusEnum": "labeling.models.SuggestionStatus",
    },
}

# --- Celery: a broker that needs no server by default, Redis in production -------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = require_url(
    "CELERY_BROKER_URL",
    env_str("CELERY_BROKER_URL", "filesystem://localhost/"),
    {"filesystem", "redis", "rediss"},
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest allowed run, so a long job is not redelivered mid-run.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600, minimum=60),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"training.tasks.train_*": {"queue": "train"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs (run by `celery beat`, or a worker started with --beat). The reconciler
# (training/reconcile.py) takes a gap of more than two intervals between its ticks for a
# time it could not see the database, and counts heartbeat timeouts from after it.
STUDIO_RECONCILE_SECONDS = env_int("STUDIO_RECONCILE_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "reconcile-training-runs": {
        "task": "training.tasks.runs_reconcile",
        "schedule": float(STUDIO_RECONCILE_SECONDS),
        "options": {"queue": "default", "expires": 60},
    },
}

# --- Training runs (training/) ----------------------------------------------------------
# The data check before a run (and again in the worker).
STUDIO_MIN_BOXES_PER_CLASS = env_int("STUDIO_MIN_BOXES_PER_CLASS", 10, minimum=1)
STUDIO_MIN_VAL_IMAGES = env_int("STUDIO_MIN_VAL_IMAGES", 1, minimum=0)
STUDIO_DEFAULT_TIME_BUDGET_MINUTES = env_int("STUDIO_DEFAULT_TIME_BUDGET_MINUTES", 15, minimum=1)
STUDIO_MAX_TIME_BUDGET_MINUTES = env_int("STUDIO_MAX_TIME_BUDGET_MINUTES", 600, minimum=1)
# A run is given up after this many workers were lost while running it.
STUDIO_RUN_MAX_ATTEMPTS = env_int("STUDIO_RUN_MAX_ATTEMPTS", 3, minimum=1)
# Processes a train worker starts for a run (one per device, DDP): 0 = every GPU it sees
# (one process without CUDA); N = at most N GPUs, or N CPU processes without CUDA.
STUDIO_TRAIN_PROCESSES = env_int("STUDIO_TRAIN_PROCESSES", 0, minimum=0)
# Memory a run may hold decoded images in (MB, train and val together), at the size they
# are trained at; images past it are decoded again when used (training/ml/data.py).
STUDIO_TRAIN_CACHE_MB = env_int("STUDIO_TRAIN_CACHE_MB", 2048, minimum=0)
# A running run writes a heartbeat every STUDIO_HEARTBEAT_SECONDS; without one for
# STUDIO_HEARTBEAT_TIMEOUT_SECONDS its worker is taken as lost and the run is resumed
# elsewhere. A queued run no worker took for STUDIO_REQUEUE_AFTER_SECONDS is enqueued
# again (its message may have been lost with the broker).
STUDIO_HEARTBEAT_SECONDS = env_int("STUDIO_HEARTBEAT_SECONDS", 10, minimum=1)
STUDIO_HEARTBEAT_TIMEOUT_SECONDS = env_int("STUDIO_HEARTBEAT_TIMEOUT_SECONDS", 120, minimum=2)
STUDIO_REQUEUE_AFTER_SECONDS = env_int("STUDIO_REQUEUE_AFTER_SECONDS", 900, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# How often every page asks for new notifications (a run or an import that ended).
STUDIO_NOTIFY_POLL_SECONDS = env_int("STUDIO_NOTIFY_POLL_SECONDS", 15, minimum=1)

# --- Inference: prediction API, DeepStack endpoint, pre-labeling (training/inference.py) --
# Loaded ONNX Runtime sessions kept per process (least recently used evicted first), and
# the intra-op threads of each session (1: concurrent requests use the cores instead).
STUDIO_INFERENCE_CACHE_MODELS = env_int("STUDIO_INFERENCE_CACHE_MODELS", 4, minimum=1)
STUDIO_INFERENCE_CACHE_MB = env_int("STUDIO_INFERENCE_CACHE_MB", 512, minimum=1)
STUDIO_INFERENCE_THREADS = env_int("STUDIO_INFERENCE_THREADS", 1, minimum=0)
# Most images in one call of POST /api/v1/models/<id>/predict.
STUDIO_PREDICT_MAX_IMAGES = env_int("STUDIO_PREDICT_MAX_IMAGES", 16, minimum=1)
# The DeepStack / CodeProject.AI compatible endpoint (/v1/vision/detection): off until a
# key is set. It serves the production model of the first project of
# STUDIO_DEEPSTACK_PROJECTS (or the model version STUDIO_DEEPSTACK_MODEL), and
# /v1/vision/custom/<name> the production model of any listed project by id or name.
STUDIO_DEEPSTACK_API_KEY = env_str("STUDIO_DEEPSTACK_API_KEY", "")
STUDIO_DEEPSTACK_PROJECTS = env_list("STUDIO_DEEPSTACK_PROJECTS", [])
if not all(item.isdigit() for item in STUDIO_DEEPSTACK_PROJECTS):
    raise ImproperlyConfigured(
        f"STUDIO_DEEPSTACK_PROJECTS must be project ids separated by commas, "
        f"got {','.join(STUDIO_DEEPSTACK_PROJECTS)!r}"
    )
STUDIO_DEEPSTACK_PROJECTS = [int(item) for item in STUDIO_DEEPSTACK_PROJECTS]
STUDIO_DEEPSTACK_MODEL = env_int("STUDIO_DEEPSTACK_MODEL", 0)  # 0: the production model
# Client networks that may call it without the key (Blue Iris cannot send one), e.g.
# 192.168.1.0/24; matched against the address the web server sees.
STUDIO_DEEPSTACK_TRUSTED_NETWORKS = env_networks("STUDIO_DEEPSTACK_TRUSTED_NETWORKS")

# --- Logging ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
