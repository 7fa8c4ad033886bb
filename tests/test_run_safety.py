"""genre-lab deletes or replaces only what it can prove it wrote (issue 9, part 1).

A folder at a run target that is not a genre-lab run is refused with its path
named, for the CLI, the library and the Train page's job path; deleting a run
removes only the files its manifest and layout name, and never follows a
symbolic link out of the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genre_core import jobs
from genre_core.cli import main
from genre_core.errors import GenreLabError, RunError
from genre_core.runs import RunWriter, check_target, delete_run, list_runs, run_record_of

FAST = ["--epochs", "2", "--hidden", "8", "--test-size", "0.34", "--valid-size", "0.34", "--jobs", "1", "-q"]


@pytest.fixture()
def models(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "models"
    (root / "user").mkdir(parents=True)
    monkeypatch.setenv("GENRE_MODELS_DIR", str(root))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return root


def _user_folder(path: Path) -> dict[str, bytes]:
    """A folder of a user's own files (not a run), returned as {relative path: bytes}."""
    path.mkdir(parents=True)
    (path / "thesis.txt").write_bytes(b"years of work")
    (path / "sub").mkdir()
    (path / "sub" / "data.csv").write_bytes(b"a,b\n1,2\n")
    return _snapshot(path)


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_cli_train_refuses_an_existing_folder_that_is_not_a_run(models, tmp_path, synthetic_dataset_dir, capsys):
    target = tmp_path / "my-project"
    before = _user_folder(target)
    for extra in ([], ["--overwrite"]):
        rc = main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", str(target), *FAST, *extra])
        err = capsys.readouterr().err
        assert rc != 0
        assert str(target) in err and "not a genre-lab run" in err and "unexpected" not in err
        assert _snapshot(target) == before
    assert not list(tmp_path.glob(".my-project.*")), "no temporary folder left behind"


def test_cli_train_refuses_a_user_folder_named_like_the_run(models, synthetic_dataset_dir, capsys):
    target = models / "user" / "notes"
    before = _user_folder(target)
    rc = main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "notes", *FAST])
    assert rc != 0 and "not a genre-lab run" in capsys.readouterr().err
    assert _snapshot(target) == before


def test_a_failing_training_never_replaces_a_user_folder(models, tmp_path):
    target = models / "user" / "keep"
    before = _user_folder(target)
    with pytest.raises(RunError, match="not a genre-lab run"):
        RunWriter("keep")
    assert _snapshot(target) == before
    # a folder that appears while the run trains is not clobbered either: the run goes beside it
    with RunWriter("later") as w:
        after = _user_folder(models / "user" / "later")
        w.fail(RuntimeError("boom"))
    assert _snapshot(models / "user" / "later") == after
    assert (models / "user" / "later-failed-1" / "run.json").is_file()


def test_overwrite_replaces_only_a_genre_lab_run(models, synthetic_dataset_dir):
    assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "r1", *FAST]) == 0
    run_dir = models / "user" / "r1"
    assert run_record_of(run_dir)["status"] == "complete"
    (run_dir / "my-notes.txt").write_text("mine")
    with pytest.raises(RunError, match="did not write"):
        check_target(models / "user", "r1", overwrite=True)
    (run_dir / "my-notes.txt").unlink()
    assert main(["train", str(synthetic_dataset_dir), "--model", "mlp", "--out", "r1", "--overwrite", *FAST]) == 0
    assert run_record_of(run_dir)["status"] == "complete"
    assert not list((models / "user").glob(".r1.*"))


def test_job_path_refuses_a_user_folder(models, synthetic_dataset_dir):
    target = models / "user" / "holiday-photos"
    before = _user_folder(target)
    with pytest.raises(GenreLabError, match="not a genre-lab run"):
        jobs.submit_job({"dataset": str(synthetic_dataset_dir), "backend": "mlp", "name": "holiday-photos"})
    assert _snapshot(target) == before


def test_delete_removes_only_what_genre_lab_wrote(models, tmp_path):
    outside = tmp_path / "outside"
    keep = _user_folder(outside)
    with RunWriter("victim") as w:
        w.write_json("history.json", [])
        run = w.finish({"backend": "mlp", "labels": ["a", "b"]})
    folder = Path(run.path)
    (folder / "link-out").symlink_to(outside, target_is_directory=True)
    (folder / "mine.txt").write_text("not genre-lab's")
    with pytest.raises(RunError, match="did not write"):
        delete_run("user/victim")
    assert _snapshot(outside) == keep
    assert sorted(p.name for p in folder.iterdir()) == ["link-out", "mine.txt"]
    # a folder without a genre-lab run.json is not deleted at all
    fake = models / "user" / "fake"
    fake_files = _user_folder(fake)
    (fake / "run.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(RunError, match="not a genre-lab run"):
        delete_run("user/fake")
    assert (fake / "run.json").is_file() and _snapshot(fake).items() >= fake_files.items()


def test_delete_of_a_complete_run_leaves_nothing(models):
    with RunWriter("gone") as w:
        w.write_json("history.json", [{"epoch": 1}])
        w.finish({"backend": "mlp", "labels": ["a", "b"]})
    delete_run("gone")
    assert not (models / "user" / "gone").exists()
    assert [r.name for r in list_runs()] == []


def test_fifo_run_json_is_not_read(models):
    folder = models / "user" / "pipe"
    folder.mkdir()
    os.mkfifo(folder / "run.json")
    listed = {r.name: r for r in list_runs()}
    assert listed["pipe"].status == "invalid" and "regular file" in listed["pipe"].info["error"]


def test_delete_job_removes_only_the_jobs_files(models, tmp_path):
    outside = tmp_path / "outside"
    keep = _user_folder(outside)
    folder = jobs.jobs_dir() / "20261202-000000-mlp-abc123"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"job_id": folder.name, "config": {}}))
    (folder / "status.json").write_text(json.dumps({"job_id": folder.name, "state": "complete"}))
    (folder / "log.txt").write_text("done\n")
    (folder / "link").symlink_to(outside, target_is_directory=True)
    jobs.delete_job(folder.name)
    assert sorted(p.name for p in folder.iterdir()) == ["link"]
    assert _snapshot(outside) == keep
    (folder / "link").unlink()
    (folder / "job.json").write_text(json.dumps({"job_id": folder.name, "config": {}}))
    jobs.delete_job(folder.name)
    assert not folder.exists()
