"""The docs stay true: generated settings tables, links, the spec's vectors, nothing outside the repo."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from scripts import settings_docs
from work import WorkError, difficulty, is_valid, parse_target, parse_timestamp, parse_work, threshold

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Paths to the guidance kept beside the repository, which no file of the project may name: written
# as regexes whose own text does not match them, so this file passes its own check.
OUTSIDE = re.compile(r"[.][.]/shared\b|\bshared/[A-Za-z-]+[.]md|/work/[s]hared|\bseeds/work[-]coordinator"
                     r"|\b(SPEC|DEPLOYMENT-NOTES|ARCHITECTURE)[.]md|\bSPEC[ ]§")


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_file_points_outside_the_repository() -> None:
    hits = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the work tree but still in the index
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits += [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
                 for m in OUTSIDE.finditer(text)]
    assert hits == [], "files point outside the repository (use docs/spec.md etc.):\n" + "\n".join(hits)


def test_the_outside_pattern_catches_each_form() -> None:
    for text in ["see ../" + "shared/x", "shared/SPEC" + ".md §2", "/work/" + "shared/seeds",
                 "SPEC" + ".md §1", "DEPLOYMENT-NOTES" + ".md", "seeds/" + "work-coordinator-README.md",
                 "SPEC" + " §1"]:
        assert OUTSIDE.search(text), text
    for text in ["docs/spec.md", "docs/architecture.md", "shared by the services", "shared_state"]:
        assert not OUTSIDE.search(text), text


def test_the_settings_tables_match_the_models() -> None:
    """Fails when a field changed without `python scripts/settings_docs.py` being run."""
    text = settings_docs.DOC.read_text()
    assert settings_docs.render(text) == text, "drifted: run python scripts/settings_docs.py"


def test_the_check_mode_fails_on_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = settings_docs.DOC.read_text().replace("`work-requested-adapter`", "`stale`", 1)
    doc = tmp_path / "operations.md"
    doc.write_text(stale)
    monkeypatch.setattr(settings_docs, "DOC", doc)
    monkeypatch.setattr(settings_docs, "ROOT", tmp_path)
    assert settings_docs.main(["--check"]) == 1
    assert doc.read_text() == stale  # --check writes nothing
    assert settings_docs.main([]) == 0 and settings_docs.main(["--check"]) == 0


def test_every_field_has_a_description_and_a_row() -> None:
    text = settings_docs.DOC.read_text()
    for name, (model, bases) in settings_docs.TABLES.items():
        block = text.split(f"<!-- settings:{name} -->", 1)[1].split(f"<!-- /settings:{name} -->", 1)[0]
        for field, info in model.model_fields.items():
            if any(field in base.model_fields for base in bases):
                continue
            assert info.description, f"{model.__name__}.{field} needs Field(description=...)"
            assert f"| `{settings_docs.env_name(model, field)}` |" in block


def _project_settings_models() -> set[type[BaseSettings]]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    roots = [name.rstrip("*") for name in packages["find"]["include"]]
    found: set[type[BaseSettings]] = set()
    for root in roots:
        package = importlib.import_module(root)
        modules = [package] + [importlib.import_module(info.name) for info in
                               pkgutil.walk_packages(getattr(package, "__path__", []), root + ".")
                               if not info.name.endswith(".__main__")]  # that one runs the CLI
        for module in modules:
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, BaseSettings)
                        and value.__module__ == module.__name__):
                    found.add(value)
    return found


def test_every_settings_model_has_a_table() -> None:
    listed = {model for model, _ in settings_docs.TABLES.values()}
    missing = sorted(f"{m.__module__}.{m.__name__}" for m in _project_settings_models() - listed)
    assert missing == [], f"add these to TABLES in scripts/settings_docs.py (and markers): {missing}"


def test_the_script_runs_as_a_file() -> None:
    done = subprocess.run([sys.executable, "scripts/settings_docs.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower-case, punctuation dropped, spaces to dashes."""
    anchors = set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"#{1,6} (.*)", line)):
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files_and_headings(doc: Path) -> None:
    broken = []
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert broken == [], f"{doc.relative_to(ROOT)}: broken links {broken}"


def test_the_docs_exist_and_the_readme_stays_short() -> None:
    for name in ["api", "operations", "architecture", "benchmarks", "spec"]:
        assert (ROOT / "docs" / f"{name}.md").is_file()
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def _vector_rows() -> list[list[str]]:
    section = (ROOT / "docs" / "spec.md").read_text().split("\n## Vectors\n", 1)[1].split("\n## ", 1)[0]
    target = re.search(r"target `([0-9A-F]{64})`", section).group(1)
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| `")]
    return [[target, *row] for row in rows]


@pytest.mark.parametrize("row", _vector_rows(), ids=lambda row: "-".join(row[1:4]))
def test_the_spec_vectors_hold(row: list[str]) -> None:
    target, work, network, timestamp, value, verdict = row
    work_bytes, target_bytes = parse_work(work), parse_target(target)
    if value != "-":
        assert difficulty(work_bytes, target_bytes) == int(value)
    try:
        limit = threshold(network, parse_timestamp(timestamp))
    except WorkError:
        assert verdict.startswith("no:"), "refused by the rules, so the verdict must say why"
        return
    assert is_valid(work_bytes, target_bytes, limit) == verdict.startswith("yes")
    if "first valid" in verdict:
        nonce = int(re.search(r"\((\d+)\)", verdict).group(1))
        assert work_bytes == nonce.to_bytes(8, "little")
        assert not any(is_valid(n.to_bytes(8, "little"), target_bytes, limit) for n in range(nonce))


def test_the_spec_threshold_table_matches_the_rules() -> None:
    section = (ROOT / "docs" / "spec.md").read_text().split("\n### Halving\n", 1)[1].split("\n### ", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if re.match(r"\| \d{4}", line)]
    assert len(rows) >= 8
    for years, divisor, *values in rows:
        year = int(years[:4])
        assert int(divisor) == int(2.0 ** ((year - 2024) / 2.0))
        expected = [threshold(n, parse_timestamp(f"{year}-06-01T00:00:00Z"))
                    for n in ("LIVE", "BETA", "DEV", "LOCAL")]
        assert [int(v) for v in values] == expected
