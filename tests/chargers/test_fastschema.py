"""The compiled schema check never passes what jsonschema rejects (it may only be stricter)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.messages import MessageType, get_validator

from chargers.fastschema import call_check

VALID: list[tuple[str, str, dict[str, Any]]] = [
    (
        "1.6",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 7,
            "meterValue": [
                {
                    "timestamp": "2024-01-01T00:00:00Z",
                    "sampledValue": [
                        {"value": "12.5", "measurand": "Power.Active.Import", "unit": "kW"},
                        {"value": "100", "context": "Sample.Periodic", "phase": "L1"},
                    ],
                }
            ],
        },
    ),
    ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}),
    (
        "1.6",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "x"},
    ),
    (
        "2.0.1",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2024-01-01T00:00:00Z",
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "demo:1", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1},
            "idToken": {"idToken": "T", "type": "ISO14443"},
            "meterValue": [
                {
                    "timestamp": "2024-01-01T00:00:00Z",
                    "sampledValue": [{"value": 1.5, "unitOfMeasure": {"unit": "kWh"}}],
                }
            ],
        },
    ),
    (
        "2.0.1",
        "BootNotification",
        {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
    ),
]

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=40),
    st.just([]), st.just({}), st.just("Sample.Periodic"), st.just("Charging"),
)  # fmt: skip


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


def mutate(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    data = copy.deepcopy(data)
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if how == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "extra" and isinstance(parent, dict):
        parent["unexpectedField"] = value
    else:
        parent[path[-1]] = value
    return data


def agree(version: str, action: str, payload: Any) -> None:
    fast = call_check(action, version)
    assert fast is not None
    full_ok = not list(get_validator(MessageType.Call, action, version).iter_errors(payload))
    if fast(payload):
        assert full_ok, json.dumps(payload)


@pytest.mark.parametrize(("version", "action", "payload"), VALID)
def test_valid_payloads_pass_both(version: str, action: str, payload: dict[str, Any]) -> None:
    assert call_check(action, version)(payload)  # type: ignore[misc]
    agree(version, action, payload)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_payloads_never_pass_only_the_fast_check(data: st.DataObject) -> None:
    version, action, payload = data.draw(st.sampled_from(VALID))
    path = data.draw(st.sampled_from(paths(payload)))
    how = data.draw(st.sampled_from(["drop", "extra", "replace"]))
    agree(version, action, mutate(payload, path, how, data.draw(ODD)))
