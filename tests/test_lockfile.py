"""The lock file that `make install` and CI use satisfies what pyproject.toml asks for.

A dependency added to pyproject.toml without `make lock` would otherwise be missing from
every fresh install (the lock is installed with --require-hashes, the project --no-deps).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", re.M)


def _locked(root: Path, name: str = "dev.lock") -> dict[str, str]:
    text = (root / "requirements" / name).read_text()
    return {canonicalize_name(m.group(1)): m.group(3) for m in PIN.finditer(text)}


def _required(root: Path) -> list[Requirement]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # The extras `make lock` resolves (--extra dev --extra docs) and `make install` installs.
    return [Requirement(r) for r in [*project["dependencies"], *extras["dev"], *extras["docs"]]]


def test_every_dependency_is_locked_at_a_version_pyproject_allows(repo_root: Path) -> None:
    locked = _locked(repo_root)
    problems = []
    for requirement in _required(repo_root):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in the lock (run `make lock`)")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} does not satisfy {requirement}")
    assert not problems, problems


def test_the_service_lock_matches_the_dev_lock(repo_root: Path) -> None:
    """The Docker image runs the versions the tests ran, and has what the service needs."""
    service, dev = _locked(repo_root, "app.lock"), _locked(repo_root)
    differing = {name: (v, dev.get(name)) for name, v in service.items() if dev.get(name) != v}
    assert not differing
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    missing = [
        r for r in map(Requirement, project["dependencies"])
        if canonicalize_name(r.name) not in service
    ]  # fmt: skip
    assert not missing


@pytest.mark.parametrize("name", ["dev.lock", "app.lock"])
def test_the_lock_pins_every_package_with_hashes(repo_root: Path, name: str) -> None:
    text = (repo_root / "requirements" / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if e.strip() and "--hash=sha256:" not in e]
    assert not unhashed
