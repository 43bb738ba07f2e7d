"""course_lib.reference: replaying the stored torch runs, and noticing when one does not match."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from course_lib.reference import load_reference_cases, replay_reference_cases, torch_trajectory

FIXTURE = Path(__file__).parent / "fixtures" / "torch_trajectories.json"


def copy_with(tmp_path: Path, change) -> Path:
    """A copy of the fixture in tmp_path whose arrays went through ``change(arrays)``."""
    with np.load(FIXTURE.with_suffix(".npz")) as npz:
        arrays = {key: npz[key].copy() for key in npz.files}
    change(arrays)
    np.savez(tmp_path / "runs.npz", **arrays)
    shutil.copy(FIXTURE, tmp_path / "runs.json")
    return tmp_path / "runs.json"


def test_every_stored_run_replays_within_tolerance():
    results = replay_reference_cases(FIXTURE)
    index = json.loads(FIXTURE.read_text())["cases"]
    assert [r.name for r in results] == [c["name"] for c in index]
    assert {r.optimizer for r in results} == {"sgd", "momentum", "adagrad", "rmsprop", "adam",
                                              "adamw", "nadam", "adadelta"}
    bad = [(r.name, r.deviation) for r in results if not r.ok]
    assert not bad, f"runs off the reference by more than 1e-12: {bad}"


@pytest.mark.parametrize("path", [FIXTURE, FIXTURE.with_suffix(".npz"), FIXTURE.with_suffix("")])
def test_the_fixture_can_be_named_by_either_file_or_the_stem(path):
    cases = load_reference_cases(path)
    assert len(cases) == len(json.loads(FIXTURE.read_text())["cases"])
    assert all(case.steps == len(case.fields["traj"][next(iter(case.fields["traj"]))])
               for case in cases)


def test_one_corrupted_stored_number_is_reported_for_its_run_only(tmp_path):
    target = next(c["name"] for c in json.loads(FIXTURE.read_text())["cases"]
                  if c["optimizer"] == "adam")

    def corrupt(arrays):
        key = f"{target}/traj/a"
        flat = arrays[key].reshape(-1)
        flat[flat.size // 2] *= 1 + 1e-9  # far below what a plot would show
    results = replay_reference_cases(copy_with(tmp_path, corrupt))
    assert [r.name for r in results if not r.ok] == [target]
    (hit,) = [r for r in results if r.name == target]
    assert 1e-12 < hit.deviation <= 1e-9  # a relative change of 1e-9 in an entry at most max|p|


def test_a_corrupted_gradient_is_noticed_too(tmp_path):
    def corrupt(arrays):
        key = next(k for k in arrays if k.startswith("nadam-") and "/grads/" in k)
        arrays[key][3] += 1e-6
    assert sum(not r.ok for r in replay_reference_cases(copy_with(tmp_path, corrupt))) == 1


def test_a_nan_in_the_reference_is_a_mismatch(tmp_path):
    def corrupt(arrays):
        key = next(k for k in arrays if "/traj/" in k)
        arrays[key].reshape(-1)[0] = np.nan
        names.append(key.split("/")[0])
    names: list[str] = []
    results = replay_reference_cases(copy_with(tmp_path, corrupt))
    assert [r.name for r in results if not r.ok] == names


def test_a_run_without_arrays_is_an_error(tmp_path):
    def drop(arrays):
        for key in [k for k in arrays if k.startswith("rmsprop-")]:
            del arrays[key]
    with pytest.raises(ValueError, match="rmsprop-"):
        load_reference_cases(copy_with(tmp_path, drop))


def test_live_torch_agrees_with_the_stored_trajectories():
    pytest.importorskip("torch")
    results = replay_reference_cases(FIXTURE, live=True)
    assert all(r.ok for r in results), [(r.name, r.deviation) for r in results if not r.ok]


def test_live_torch_refuses_an_option_it_cannot_map():
    pytest.importorskip("torch")
    case = next(c for c in load_reference_cases(FIXTURE) if c.optimizer == "adam")
    case.hyper["maximize"] = True
    with pytest.raises(KeyError, match="maximize"):
        torch_trajectory(case)
