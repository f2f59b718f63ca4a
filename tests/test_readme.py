"""The README stays in sync with the code: the DSL reference, the settings table."""

from __future__ import annotations

import re
from pathlib import Path

import dsl
from dsl.model import OPERATORS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def _table_fields(text: str, header: str) -> set[str]:
    table = text.split(header, 1)[1].lstrip("\n").split("\n\n", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_]+)`", table, re.M)} | {
        m.group(1) for m in re.finditer(r"^\| `[a-z_]+`, `([a-z_]+)`", table, re.M)
    }


def test_dsl_reference_lists_every_schema_field() -> None:
    schema = dsl.json_schema()
    section = _section("The workflow DSL")
    assert _table_fields(section, "Workflow fields:") == set(schema["properties"])
    assert _table_fields(section, "Step fields:") == set(schema["$defs"]["step"]["properties"])


def test_dsl_reference_names_every_operator_and_type() -> None:
    section = _section("The workflow DSL")
    for operator in OPERATORS:
        assert f"`{operator}`" in section
    for workflow_type in ("sequential", "parallel", "conditional", "dag"):
        assert f"`{workflow_type}`" in section
    for option in dsl.json_schema()["$defs"]["retry"]["properties"]:
        assert f'"{option}"' in section


def test_configuration_lists_every_setting() -> None:
    from renum.settings import Settings

    section = _section("Configuration")
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None) or [alias]
        names.update(str(c) for c in choices if c)
    missing = sorted(n for n in names if f"`{n}`" not in section)
    assert not missing, f"settings missing from the README's Configuration table: {missing}"
