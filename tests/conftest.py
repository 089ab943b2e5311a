"""Fixtures shared by the dashboard's test files."""

import pytest


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """Each test gets an empty user model cache (shipped assets are still listed)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dashboard.training.models import registry

    registry.refresh(force=True)
    yield tmp_path / "cache" / "l63-fourdvarnet" / "models"
    registry.refresh(force=True)
