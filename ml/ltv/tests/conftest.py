"""ml/ltv tests are Django-free: neutralise the repository conftest's autouse DB fixture so that
``pytest ml/ltv -p no:django`` works (same fixture name → this no-op overrides it here)."""

import pytest


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> None:
    return None


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Small models train faster on one thread, and OpenMP threads that spin-wait collapse when other
    processes (a Celery or ml worker started by another test) hold the other core."""
    import torch

    torch.set_num_threads(1)
