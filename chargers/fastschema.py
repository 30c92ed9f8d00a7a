"""A fast yes/no check of an OCPP payload against the spec's JSON schema (Draft 4 subset).

``jsonschema`` took most of the central system's time per MeterValues. The OCPP schemas use a
small part of Draft 4, so each one is compiled once into nested closures that answer only
"valid or not". A "no" (or a schema using a keyword this module does not know) falls back to
``jsonschema`` itself, which names the error: the wire error codes stay those of the full
validator, only the happy path is fast. The tests check both agree on valid and invalid payloads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import ocpp

Check = Callable[[Any], bool]

_IGNORED = frozenset(
    {"$schema", "$id", "id", "title", "description", "comment", "javaType", "tsEnumNames",
     "format", "default", "definitions", "$comment"}
)  # fmt: skip


class UnsupportedSchema(Exception):
    """The schema uses a keyword this compiler does not implement (use jsonschema)."""


def _is_type(name: str, value: Any) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":  # Draft 4: no floats with an integral value
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    raise UnsupportedSchema(name)


def _compile(schema: dict[str, Any], root: dict[str, Any]) -> Check:
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/definitions/") or len(schema) > 1:
            raise UnsupportedSchema(ref)
        return _compile(root["definitions"][ref.removeprefix("#/definitions/")], root)
    checks = [
        _keyword(key, arg, schema, root) for key, arg in schema.items() if key not in _IGNORED
    ]
    checks = [c for c in checks if c is not _always]
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        for check in checks:  # noqa: SIM110 - no generator on the hot path
            if not check(value):
                return False
        return True

    return every


def _always(value: Any) -> bool:
    return True


def _type_check(arg: str | list[str]) -> Check:
    names = arg if isinstance(arg, list) else [arg]
    for name in names:
        _is_type(name, None)  # refuse unknown type names now
    if names == ["object"]:
        return lambda v: type(v) is dict
    if names == ["string"]:
        return lambda v: type(v) is str
    if names == ["array"]:
        return lambda v: type(v) is list
    return lambda v: any(_is_type(n, v) for n in names)


def _object_check(key: str, arg: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    if key == "properties":
        props = {name: _compile(sub, root) for name, sub in arg.items()}

        def properties(v: Any) -> bool:
            if type(v) is dict:
                for k, x in v.items():
                    check = props.get(k)
                    if check is not None and not check(x):
                        return False
            return True

        return properties
    if key == "required":
        names = list(arg)
        return lambda v: type(v) is not dict or all(n in v for n in names)
    if arg is not False:
        raise UnsupportedSchema(key)
    known = frozenset(schema.get("properties", {}))
    return lambda v: type(v) is not dict or known.issuperset(v)


def _keyword(key: str, arg: Any, schema: dict[str, Any], root: dict[str, Any]) -> Check:
    if key == "type":
        return _type_check(arg)
    if key == "enum":
        allowed = {(type(a), a) for a in arg if isinstance(a, str | int | float | bool)}
        if len(allowed) != len(arg):
            raise UnsupportedSchema(key)
        return lambda v: isinstance(v, str | int | float | bool) and (type(v), v) in allowed
    if key in ("properties", "required", "additionalProperties"):
        return _object_check(key, arg, schema, root)
    if key == "additionalItems" and isinstance(schema.get("items"), dict):
        return _always  # only meaningful with tuple-style "items"
    if key == "items":
        if not isinstance(arg, dict):
            raise UnsupportedSchema(key)
        item = _compile(arg, root)

        def items(v: Any) -> bool:
            if type(v) is list:
                for x in v:
                    if not item(x):
                        return False
            return True

        return items
    return _bound(key, arg)


def _bound(key: str, arg: Any) -> Check:
    def num(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if key == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= arg
    if key == "maxItems":
        return lambda v: not isinstance(v, list) or len(v) <= arg
    if key == "maxLength":
        return lambda v: not isinstance(v, str) or len(v) <= arg
    if key == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= arg
    if key == "minimum":
        return lambda v: not num(v) or v >= arg
    if key == "maximum":
        return lambda v: not num(v) or v <= arg
    if key == "multipleOf":  # as jsonschema judges it
        if isinstance(arg, float):
            return lambda v: not num(v) or (math.isfinite(v / arg) and int(v / arg) == v / arg)
        return lambda v: not num(v) or (isinstance(v, int) and v % arg == 0)
    raise UnsupportedSchema(key)


def _schema_path(action: str, version: str) -> Path:
    folder = "v" + version.replace(".", "")
    name = action if version == "1.6" else f"{action}Request"
    return Path(ocpp.__file__).parent / folder / "schemas" / f"{name}.json"


@cache
def call_check(action: str, version: str) -> Check | None:
    """The compiled check of a CALL payload, or None when only jsonschema can judge it."""
    try:
        root = json.loads(_schema_path(action, version).read_text(encoding="utf-8-sig"))
        return _compile(root, root)
    except (OSError, UnsupportedSchema, KeyError):
        return None
