"""The three dependency lists (pyproject.toml, environment.yml, constraints.txt) must agree.

Binder reads only environment.yml and `make test` installs with constraints.txt, so a
dependency added to one and forgotten in another breaks a route nobody on the team uses daily.
"""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def runtime_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}


def conda_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and dep not in ("pip", "python") and not dep.startswith("python"):
            req = Requirement(dep.replace(" ", ""))
            reqs[req.name.lower()] = req
    return reqs


def pinned() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = Version(version.strip())
    return pins


def test_environment_yml_lists_the_same_runtime_dependencies():
    py, conda = runtime_requirements(), conda_requirements()
    assert sorted(py) == sorted(conda), f"pyproject {sorted(py)} vs environment.yml {sorted(conda)}"
    for name in py:
        assert py[name].specifier == conda[name].specifier, (
            f"{name}: pyproject says {py[name].specifier}, environment.yml {conda[name].specifier}")


def test_environment_yml_installs_the_course_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-e ."]], "environment.yml must end with pip: [-e .]"


def test_the_tested_versions_satisfy_the_lower_bounds():
    pins = pinned()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    for req in reqs:
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is a dependency but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {req}"


def test_python_lower_bound_matches_conda():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str)
                        and d.startswith("python"))
    assert conda_python.replace("python", "") == project["requires-python"]
