from __future__ import annotations

from tests.training.conftest import model_version, tiny_trained  # noqa: E402, F401
from tests.training.model_fixtures import (  # noqa: F401 - shared fixtures
    reviewed_model,
    trained_for_review,
)
