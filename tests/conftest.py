"""Fixtures shared by the dashboard's test files, and how the tests share the cores."""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups from the markers
def pytest_collection_modifyitems(config, items):
    """Under `-n auto --dist loadgroup` (the README's command), one worker runs a whole test file, so a
    module's fixture is built once; every browser test runs on one worker, around one served dashboard.
    A test marked `ci` is also `slow`: CI runs it in a step of its own, the README's command skips it."""
    for item in items:
        group = "browser" if "browser" in item.path.parts else item.path.stem
        item.add_marker(pytest.mark.xdist_group(group))
        if item.get_closest_marker("ci") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)  # `ci` tests are slow ones: the README's command skips them


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """Each test gets an empty user model cache (shipped assets are still listed)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from dashboard.training.models import registry

    registry.refresh(force=True)
    yield tmp_path / "cache" / "l63-fourdvarnet" / "models"
    registry.refresh(force=True)
