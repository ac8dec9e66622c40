"""Render the settings tables of docs/operations.md from the settings models' field descriptions.

    python scripts/settings_docs.py           # rewrite the tables in docs/operations.md
    python scripts/settings_docs.py --check   # exit 1, naming the tables, when the docs drifted

Each table sits between ``<!-- settings:NAME -->`` and ``<!-- /settings:NAME -->``. A new settings
model gets a line in ``TABLES`` and a pair of markers; a new field needs ``Field(description=...)``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "operations.md"
sys.path.insert(0, str(ROOT))  # run as a file from a checkout, installed or not

from atto_work.commands.pubsub_init import PubSubInitSettings  # noqa: E402
from common.connections import ConnectionSettings  # noqa: E402
from common.proxies import ProxySettings  # noqa: E402
from coordinator.settings import CoordinatorSettings  # noqa: E402
from messaging.settings import MessagingSettings  # noqa: E402
from solver.settings import SolverSettings  # noqa: E402
from store.settings import StoreSettings  # noqa: E402
from worker_adapter.settings import AdapterSettings  # noqa: E402

# Table name -> (model, the bases whose fields other tables already list).
TABLES: dict[str, tuple[type[BaseSettings], tuple[type[BaseSettings], ...]]] = {
    "messaging": (MessagingSettings, ()),
    "coordinator": (CoordinatorSettings, (MessagingSettings, StoreSettings)),
    "store": (StoreSettings, ()),
    "adapter": (AdapterSettings, (MessagingSettings,)),
    "solver": (SolverSettings, ()),
    "proxies": (ProxySettings, ()),
    "connections": (ConnectionSettings, ()),
    "pubsub-init": (PubSubInitSettings, ()),
}


class SettingsDocError(Exception):
    """A field without a description, or a table without its markers."""


def env_name(model: type[BaseSettings], field: str) -> str:
    """The environment variable pydantic-settings reads ``field`` from."""
    alias = model.model_fields[field].validation_alias or model.model_fields[field].alias
    if isinstance(alias, str):
        return alias.upper()
    return ((model.model_config.get("env_prefix") or "") + field).upper()


def _default(model: type[BaseSettings], field: str) -> str:
    info = model.model_fields[field]
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(name: str) -> str:
    """The markdown table of one service's settings: variable, default, description."""
    model, bases = TABLES[name]
    inherited = {field for base in bases for field in base.model_fields}
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field, info in model.model_fields.items():
        if field in inherited:
            continue
        if not info.description:
            raise SettingsDocError(f"{model.__module__}.{model.__name__}.{field} has no "
                                   f"Field(description=...)")
        rows.append(f"| `{env_name(model, field)}` | {_default(model, field)} | {_cell(info.description)} |")
    return "\n".join(rows)


def render(text: str) -> str:
    """``text`` with the block between each table's markers replaced by the current table."""
    for name in TABLES:
        start, end = f"<!-- settings:{name} -->", f"<!-- /settings:{name} -->"
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SettingsDocError(f"{DOC.relative_to(ROOT)} lacks the markers {start} ... {end}")
        text = pattern.sub(lambda _, s=start, e=end, n=name: f"{s}\n{table(n)}\n{e}", text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the docs differ; write nothing")
    args = parser.parse_args(argv)
    try:
        current = DOC.read_text()
        rendered = render(current)
    except SettingsDocError as exc:
        print(f"settings_docs: {exc}", file=sys.stderr)
        return 1
    if rendered == current:
        return 0
    if args.check:
        print(f"settings_docs: {DOC.relative_to(ROOT)} is out of date: run python scripts/settings_docs.py",
              file=sys.stderr)
        return 1
    DOC.write_text(rendered)
    print(f"settings_docs: rewrote the settings tables in {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
