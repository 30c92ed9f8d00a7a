"""Validate Beckn bodies against the core v1.1.1 OpenAPI documents in ``../shared/beckn``.

``transaction.yaml`` holds search … on_support, ``meta.yaml`` the reason/category lists. OpenAPI
3.1 schemas are JSON Schema 2020-12, so each request body is checked by a ``$ref`` into its own
document. One known erratum of ``meta.yaml`` is corrected here, not in our payloads:
``/rating_categories`` requires ``message.return_reasons`` (copied from ``/return_reasons``); we
require the ``rating_categories`` it describes instead.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CORE = Path("spec/v1.1/core-v1.1.1")
META_ACTIONS = {
    "get_cancellation_reasons",
    "cancellation_reasons",
    "get_return_reasons",
    "return_reasons",
    "get_rating_categories",
    "rating_categories",
}


def _body_pointer(action: str) -> str:
    return f"#/paths/~1{action}/post/requestBody/content/application~1json/schema"


@cache
def _document(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    if path.name == "meta.yaml":
        doc = copy.deepcopy(doc)
        body = doc["paths"]["/rating_categories"]["post"]["requestBody"]["content"]
        body["application/json"]["schema"]["properties"]["message"]["required"] = [
            "rating_categories"
        ]
    return doc


def schema_for(beckn_dir: Path, action: str) -> dict[str, Any]:
    """A JSON schema (2020-12) for the body of ``action`` (e.g. ``on_status``)."""
    name = "meta.yaml" if action in META_ACTIONS else "transaction.yaml"
    doc = _document(beckn_dir / CORE / name)
    if f"/{action}" not in doc["paths"]:
        msg = f"core v1.1.1 has no /{action}"
        raise KeyError(msg)
    return {**doc, "$ref": _body_pointer(action)}


def validate_openapi(beckn_dir: Path, doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``doc`` is a valid body of its context.action."""
    schema = schema_for(beckn_dir, doc["context"]["action"])
    jsonschema.Draft202012Validator(schema).validate(doc)
