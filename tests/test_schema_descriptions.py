"""Every field of the run config and of the sweep file is described in its JSON Schema.

The schemas are the ones the command prints (``mlp schema``, ``mlp sweep --schema``), read
from a real subprocess; every property at every depth is visited: ``$ref`` into ``$defs``,
``anyOf``/``oneOf`` members (the discriminated unions of data sources, schedules, losses and
modules), array items and dictionary values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlp.sweep.config import Search, SweepConfig
from mlp.training.field_docs import Documented
from mlp.training.hyperparameters import TrainingConfig
from mlp.training.routinizer import BasicRoutinizer
from mlp.training.run_config import HDF5Source, MlpSpec, RunConfig

ROOT = Path(__file__).resolve().parents[1]


def printed_schema(*args: str) -> dict[str, Any]:
    """The JSON Schema a ``python -m mlp`` command prints."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "mlp", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120, check=True)
    return json.loads(done.stdout)


def _title(member: dict[str, Any]) -> str:
    """A union member's name: its title, or the definition it refers to (directly, or through
    the one-member ``allOf`` older pydantic versions put around a reference)."""
    ref = member.get("$ref") or next((m.get("$ref") for m in member.get("allOf", [])
                                      if len(member["allOf"]) == 1), None) or ""
    return str(member.get("title") or ref.rsplit("/", 1)[-1])


def properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(path, property schema)`` of every property at every depth of ``schema``.

    A path names the properties from the root, a union member by its title in angle
    brackets and array items by ``[]``: ``data<CsvSource>.max_rows``. Each ``$defs`` entry
    is entered once per path that reaches it first, so recursive schemas end.
    """
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], path: str, seen: frozenset[str]
             ) -> Iterator[tuple[str, dict[str, Any]]]:
        ref = node.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return
            seen = seen | {name}
            node = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        for name, prop in node.get("properties", {}).items():
            where = f"{path}.{name}" if path else name
            yield where, prop
            yield from walk(prop, where, seen)
        wrapped = node.get("allOf", [])
        if len(wrapped) == 1:  # pydantic < 2.9 wraps a $ref that has a description beside it
            yield from walk(wrapped[0], path, seen)
        for key in ("anyOf", "oneOf", "allOf") if len(wrapped) != 1 else ("anyOf", "oneOf"):
            for member in node.get(key, []):
                yield from walk(member, f"{path}<{_title(member)}>" if _title(member) else path,
                                seen)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from walk(node[key], f"{path}[]", seen)
        for member in node.get("prefixItems", []):
            yield from walk(member, f"{path}[]", seen)

    yield from walk(schema, "", frozenset())


def undescribed(schema: dict[str, Any]) -> list[str]:
    return sorted({path for path, prop in properties(schema)
                   if not str(prop.get("description", "")).strip()})


@pytest.fixture(scope="module")
def run_schema() -> dict[str, Any]:
    return printed_schema("schema")


def test_the_walk_reaches_every_depth(run_schema: dict[str, Any]) -> None:
    """Fields inside $ref, discriminated unions and lists are among the properties checked."""
    paths = {path for path, _ in properties(run_schema)}
    assert {"name", "data<CsvSource>.max_rows", "data<HDF5Source>.val_rows",
            "model<MlpSpec>.hidden", "train.schedule<CosineSchedule>.min_lr",
            "train.loss<CrossEntropyLoss>.label_smoothing",
            "model<Model>.modules[]<Layer>.in_features"} <= paths
    assert undescribed({"properties": {"a": {"description": " "}, "b": {
        "oneOf": [{"properties": {"c": {"description": "c"}, "d": {}}}]}}}) == ["a", "b", "b.d"]


def test_every_run_config_field_has_a_description(run_schema: dict[str, Any]) -> None:
    assert undescribed(run_schema) == []


def test_every_sweep_file_field_has_a_description() -> None:
    pytest.importorskip("optuna")
    schema = printed_schema("sweep", "--schema")
    assert {"space[]<Choice>.choice", "search.kind", "base<RunConfig>.train.lr"} <= {
        path for path, _ in properties(schema)}
    assert undescribed(schema) == []


@pytest.mark.parametrize("model", [TrainingConfig, BasicRoutinizer, RunConfig, MlpSpec,
                                   HDF5Source, SweepConfig, Search])
def test_a_model_docstring_lists_every_field_as_a_parameter(model: type[Documented]) -> None:
    """The Parameters section numpydoc reads names every field with its description; the
    schema's description of the model is the prose of its docstring, without sections."""
    ClassDoc = pytest.importorskip("numpydoc.docscrape").ClassDoc
    parameters = {p.name: p for p in ClassDoc(model)["Parameters"]}
    assert list(parameters) == list(model.model_fields)
    for name, info in model.model_fields.items():
        assert " ".join(parameters[name].desc) == info.description
    description = model.model_json_schema().get("description", "")
    assert description and "Parameters" not in description and ">>>" not in description


def test_the_section_goes_before_examples_and_shows_defaults() -> None:
    ClassDoc = pytest.importorskip("numpydoc.docscrape").ClassDoc
    doc = ClassDoc(TrainingConfig)
    assert doc["Examples"] and doc["Summary"]
    epochs = next(p for p in doc["Parameters"] if p.name == "epochs")
    assert epochs.type == "int, default ``10``"
    assert TrainingConfig.__doc__.index("Parameters") < TrainingConfig.__doc__.index("Examples")
