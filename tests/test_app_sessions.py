"""One app server, many browser sessions (issue 9, part 2).

Folders chosen on Home live in that session only, and any path typed in the
app must resolve inside the allowed roots (``GENRE_DATA_ROOTS`` or the
defaults) before anything is read.
"""

from __future__ import annotations

import os

import pytest

from helpers import metric_value
from app_fixtures import (  # noqa: F401 - fixtures
    COMPLETE_RUNS,
    app_models,
    empty_env,
    new_app,
    texts,
)
from genre_core import config

HOME = "Home.py"




def _sidebar_text(at) -> str:
    return " ".join(str(c.value) for c in at.sidebar.caption)


def test_settings_stay_in_their_session(empty_env, app_models):
    first = new_app(HOME)
    first.run()
    next(t for t in first.text_input if t.label.startswith("Models folder")).set_value(str(app_models))
    next(b for b in first.button if b.label == "Apply").click()
    first.run()
    assert not first.exception and not first.error
    assert metric_value(first, "Trained runs ready") == str(len(COMPLETE_RUNS))

    # a second browser session on the same server still sees the server's (empty) models folder
    second = new_app(HOME)
    second.run()
    assert not second.exception
    assert metric_value(second, "Trained runs ready") == "0"
    train = new_app("pages/2_Train.py")
    train.run()
    assert not train.exception
    assert str(app_models) not in _sidebar_text(train)
    # nothing process-wide changed
    assert os.environ["GENRE_MODELS_DIR"] == str(empty_env)
    assert config.models_dir() == empty_env
    # and the first session keeps its own choice on its next rerun
    first.run()
    assert metric_value(first, "Trained runs ready") == str(len(COMPLETE_RUNS))


def test_typed_paths_outside_the_allowed_roots_are_refused(empty_env, tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    (allowed / "rock").mkdir(parents=True)
    monkeypatch.setenv("GENRE_DATA_ROOTS", str(allowed))
    at = new_app(HOME)
    at.run()
    for value in ("/proc/self", "/etc", str(allowed / ".." / "models")):
        next(t for t in at.text_input if t.label.startswith("Data folder")).set_value(value)
        next(b for b in at.button if b.label == "Apply").click()
        at.run()
        assert not at.exception
        assert any("outside the folders this app may use" in e for e in texts(at.error)), value
        assert "(default)" in next(t for t in at.text_input if t.label.startswith("Data folder")).label

    for page, key, path in (("pages/4_Explore.py", "explore", "/proc/self"), ("pages/2_Train.py", "train", "/etc/passwd")):
        at = new_app(page)
        at.run()
        at.radio(key=f"{key}_kind").set_value("audio").run()
        at.text_input(key=f"{key}_folder").set_value(path).run()
        assert not at.exception
        assert any("outside the folders this app may use" in e for e in texts(at.error)), page
        if key == "explore":
            assert not at.metric  # nothing was listed


def test_a_symlink_out_of_an_allowed_root_is_refused(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to("/etc", target_is_directory=True)
    monkeypatch.setenv("GENRE_DATA_ROOTS", str(allowed))
    assert config.check_allowed_path(allowed) == allowed.resolve()
    with pytest.raises(config.PathNotAllowedError, match="outside"):
        config.check_allowed_path(allowed / "escape" / "passwd")
    with pytest.raises(config.PathNotAllowedError):
        config.check_allowed_path(str(allowed / ".." / ".."))


def test_default_roots_include_repo_data_models_and_home(monkeypatch):
    monkeypatch.delenv("GENRE_DATA_ROOTS", raising=False)
    roots = config.allowed_roots()
    for p in (config.REPO_ROOT / "data", config.REPO_ROOT / "models", os.path.expanduser("~")):
        assert os.path.realpath(p) in {str(r) for r in roots}
