"""ml/ltv tests are Django-free: neutralise the repository conftest's autouse DB fixture so that
``pytest ml/ltv -p no:django`` works (same fixture name → this no-op overrides it here)."""

import pytest


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> None:
    return None
