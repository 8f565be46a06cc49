"""docs/configuration.md against the config models: every key of every section is documented."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator

from pydantic import BaseModel

from exporters.config import Config
from tests.conftest import REPO

DOC = REPO / "docs/configuration.md"
# Per-alert knobs (thresholds, `for`, severity) are documented on each alert's runbook page, which the
# rules tests check exists; the reference documents the `alerting.alerts.<Name>` mechanism.
DOCUMENTED_ELSEWHERE = ("alerting.alerts.",)


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if typing.get_origin(annotation) in (list, dict, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            yield from _models(arg)


def leaf_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}"
        nested = list(_models(field.annotation))
        if not nested:
            yield path
        for sub in nested:
            yield from leaf_keys(sub, path + ("[]." if typing.get_origin(field.annotation) is list else "."))


def sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^## `([a-z_]+)`", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_config_key_is_in_the_reference() -> None:
    docs = sections()
    keys = [k for k in leaf_keys(Config) if not k.startswith(DOCUMENTED_ELSEWHERE)]
    assert len(keys) > 80
    missing = []
    for key in keys:
        top, leaf = key.split(".", 1)[0], key.rsplit(".", 1)[-1].removesuffix("[]")
        section = docs.get(top)
        # Table rows group siblings (`a` / `b`, `targets.<x|y>`): the key's own name must appear as a word.
        if section is None or not re.search(rf"(?<![\w-]){re.escape(leaf)}(?![\w-])", section):
            missing.append(key)
    assert missing == [], "keys missing from docs/configuration.md"


def test_every_documented_section_is_a_config_section() -> None:
    assert set(sections()) == set(Config.model_fields)
