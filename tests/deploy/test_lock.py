"""requirements.lock (what the images install) is in sync with pyproject.toml's dependencies.

Checked offline: every dependency is pinned at a version its specifier allows (for each marker set
the lock resolves it under), nothing is pinned for pyproject.toml that it no longer asks for, and the
lock was written by ``make lock``'s command. The image builds then install exactly these pins with
``--require-hashes --no-deps`` and run ``pip check``: a pin missing from the lock fails the build.
"""

from __future__ import annotations

import re
import tomllib

from deploy_support import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, list[tuple[Version, str]]]:
    """name -> [(version, marker)], one entry per marker set the universal lock pins it under."""
    pins: dict[str, list[tuple[Version, str]]] = {}
    for line in LOCK.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9._-]+)==(\S+)\s*(?:;\s*(.*?))?\s*\\?$", line)
        if found:
            name, version, marker = found.groups()
            pins.setdefault(canonicalize_name(name), []).append((Version(version), marker or ""))
    return pins


def direct_in_lock() -> set[str]:
    """Packages the lock says it pins because pyproject.toml asks for them (uv's ``# via`` notes)."""
    names, current = set(), None
    for line in LOCK.read_text().splitlines():
        if found := re.match(r"^([A-Za-z0-9._-]+)==", line):
            current = canonicalize_name(found.group(1))
        elif current and re.match(r"^\s+#\s+(via\s+)?atto-work \(pyproject\.toml\)", line):
            names.add(current)
    return names


def dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_dependency_is_pinned_within_its_specifier() -> None:
    pins = locked()
    for requirement in dependencies():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        for version, marker in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {name}=={version} ({marker or 'everywhere'}), outside "
                f"pyproject.toml's {requirement.specifier}: run `make lock`")


def test_nothing_is_pinned_for_a_dependency_pyproject_dropped() -> None:
    wanted = {canonicalize_name(r.name) for r in dependencies()}
    assert direct_in_lock() == wanted, "requirements.lock is out of date: run `make lock`"


def test_the_lock_was_written_by_make_lock() -> None:
    command = re.search(r"^LOCK_COMMAND = (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert command is not None
    assert f"#    {command.group(1)}" in LOCK.read_text().splitlines()[:3]

