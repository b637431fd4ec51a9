# The Celery app is loaded with Django, so that tasks enqueued by the web use its broker.
from studio.celery import app as celery_app

__all__ = ["celery_app"]
