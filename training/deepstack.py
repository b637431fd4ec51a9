"""A DeepStack / CodeProject.AI compatible detection endpoint, for Blue Iris, Home Assistant
and the other clients that speak it.

``POST /v1/vision/detection`` and ``POST /v1/vision/custom/<model-name>``, multipart field
``image``, optional ``min_confidence`` (default: the model's saved thresholds). Answer::

    {"success": true, "predictions": [{"label", "confidence", "x_min", "y_min", "x_max",
     "y_max"}], "count", "inferenceMs", "processMs", "moduleId", "code": 200, ...}

with integer pixel corners; an error is ``{"success": false, "error": "...", "code": N}``
with that 4xx status. Off until ``STUDIO_DEEPSTACK_API_KEY`` is set; the key comes as the
form field ``api_key`` (DeepStack's clients), an ``X-API-Key`` header or
``Authorization: Bearer <key>``; clients in ``STUDIO_DEEPSTACK_TRUSTED_NETWORKS`` need
none. ``/v1/vision/detection`` serves the model version ``STUDIO_DEEPSTACK_MODEL`` if set,
else the production model of the first project of ``STUDIO_DEEPSTACK_PROJECTS``;
``/v1/vision/custom/<model-name>`` the production model of the listed project whose id
or name (as a slug) is ``<model-name>``. No other project is ever reachable here.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt

from labeling import ingest
from studio.request_limits import FORM_OVERHEAD, body_limit
from training import inference
from training.models import ModelVersion

MODULE_ID = "detection-studio"
MODULE_NAME = "Detection Studio"


def _image_body_limit() -> int:
    return settings.STUDIO_MAX_IMAGE_BYTES + FORM_OVERHEAD  # one image and its fields


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@csrf_exempt
@body_limit(_image_body_limit)
def detection(request: HttpRequest) -> JsonResponse:
    return _answer(request, None)


@csrf_exempt
@body_limit(_image_body_limit)
def custom(request: HttpRequest, model_name: str) -> JsonResponse:
    return _answer(request, model_name)


def _answer(request: HttpRequest, model_name: str | None) -> JsonResponse:
    started = time.perf_counter()
    try:
        if request.method != "POST":
            raise Refused("Use POST with a multipart image.", 405)
        _authorize(request)
        model = _served_model(model_name)
        upload = request.FILES.get("image")
        if upload is None:
            raise Refused("Send the image as the multipart file field 'image'.")
        threshold = _min_confidence(request.POST.get("min_confidence"))
        try:
            data = ingest.read_limited(upload)
        except ingest.Refused as refusal:
            raise Refused(f"The image was refused: {refusal}.", 413) from None
        result = inference.predict_images(
            model=model,
            images=[(upload.name or "image", data)],
            options=inference.PredictOptions(threshold=threshold),
        )
    except Refused as error:
        return _error(str(error), error.status)
    except (MultiPartParserError, SuspiciousOperation) as error:
        return _error(f"The request could not be read: {error}.", 400)
    except inference.PredictError as error:
        return _error(str(error), error.status)
    [image] = result["results"]
    predictions = [
        {
            "label": d["class_name"],
            "confidence": d["score"],
            "x_min": _pixel(d["x_min"], image["width"]),
            "y_min": _pixel(d["y_min"], image["height"]),
            "x_max": _pixel(d["x_max"], image["width"]),
            "y_max": _pixel(d["y_max"], image["height"]),
        }
        for d in image["detections"]
    ]
    timing = image["timing_ms"]
    process_ms = (time.perf_counter() - started) * 1000
    count = len(predictions)
    return JsonResponse(
        {
            "success": True,
            "message": f"Found {count} object{'' if count == 1 else 's'}"
            if count
            else "No objects found",
            "predictions": predictions,
            "count": count,
            "inferenceMs": round(timing["inference"]),
            "processMs": round(process_ms),
            "analysisRoundTripMs": round(process_ms),
            "moduleId": MODULE_ID,
            "moduleName": MODULE_NAME,
            "command": "detect" if model_name is None else "custom",
            "executionProvider": "CPU",
            "canUseGPU": False,
            "code": 200,
        }
    )


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"success": False, "error": message, "message": message, "code": status},
        status=status,
    )


def _pixel(value: float, limit: int) -> int:
    return max(0, min(int(round(value)), limit))


def _authorize(request: HttpRequest) -> None:
    key = settings.STUDIO_DEEPSTACK_API_KEY
    if not key:
        raise Refused(
            "The DeepStack endpoint is off: set STUDIO_DEEPSTACK_API_KEY on the studio.", 401
        )
    given = (
        request.POST.get("api_key")
        or request.headers.get("X-API-Key")
        or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    )
    if given and hmac.compare_digest(given.encode(), key.encode()):
        return
    if _trusted(request.META.get("REMOTE_ADDR", "")):
        return
    raise Refused("A valid API key is required (form field api_key).", 401)


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.STUDIO_DEEPSTACK_TRUSTED_NETWORKS)


def _served_model(model_name: str | None) -> ModelVersion:
    projects = settings.STUDIO_DEEPSTACK_PROJECTS
    models = ModelVersion.objects.select_related("project").defer("evaluation", "label_audit")
    if model_name is None and settings.STUDIO_DEEPSTACK_MODEL:
        model = models.filter(pk=settings.STUDIO_DEEPSTACK_MODEL).first()
        if model is None:
            raise Refused(
                f"STUDIO_DEEPSTACK_MODEL names no model version "
                f"({settings.STUDIO_DEEPSTACK_MODEL}).",
                404,
            )
        return model
    if not projects:
        raise Refused("No project is served: set STUDIO_DEEPSTACK_PROJECTS.", 404)
    project_id = projects[0] if model_name is None else _project_named(model_name, projects)
    model = models.filter(project_id=project_id, is_production=True).first()
    if model is None:
        raise Refused(
            f"Project {project_id} has no production model: mark a model version as "
            "production on its model page.",
            404,
        )
    return model


def _project_named(model_name: str, projects: list[int]) -> int:
    from labeling.models import Project

    for pk, name in Project.objects.filter(pk__in=projects).values_list("pk", "name"):
        if model_name == str(pk) or model_name.lower() == slugify(name):
            return pk
    raise Refused(f"No served model is called {model_name!r}.", 404)


def _min_confidence(raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Refused(f"min_confidence must be a number between 0 and 1, got {raw!r}.") from None
    if not 0 <= value <= 1:
        raise Refused(f"min_confidence must be between 0 and 1, got {value:g}.")
    return value
