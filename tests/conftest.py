"""Shared test set-up: offline, quiet, and a throw-away cache root."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _gaborbench_home(tmp_path_factory):
    """Point GABORBENCH_HOME at a session-wide temporary folder (twins are shared by tests)."""
    home = tmp_path_factory.mktemp("gaborbench_home")
    old = os.environ.get("GABORBENCH_HOME")
    os.environ["GABORBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("GABORBENCH_HOME", None)
    else:
        os.environ["GABORBENCH_HOME"] = old


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Download tests: a throw-away cache root, a recipes folder and a 127.0.0.1 file server."""
    import argparse

    from _http_server import FileServer

    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GABORBENCH_MIRROR", raising=False)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    with FileServer() as server:
        yield argparse.Namespace(server=server, recipes=recipes, home=tmp_path / "home")
