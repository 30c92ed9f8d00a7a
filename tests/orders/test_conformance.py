"""UEI EV-charging guide examples (../shared/beckn), re-signed with test keys, against a real BAP.

Each request is sent as the guide writes it, except ``bap_uri`` (our test BAP) and, for select,
the fulfillment id (the guide's ``"1"`` names its own charger; ours is ``pe-charging``). The
callback must be signed by the BPP, validate against the core v1.1.0 JSON schemas and carry what
the guide's ``on_*`` example shows.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource

from chargegrid.clock import FrozenClock
from orders.api import create_app
from orders.signing import KeyPair
from tests.orders.openapi import validate_openapi
from tests.orders.support import (
    BAP,
    BAP_SEARCH,
    BPP_ID,
    BPP_KEYS,
    Received,
    RecordingBap,
    encode,
    make_bpp,
    serve,
    sign,
)

pytestmark = [pytest.mark.anyio, pytest.mark.shared]
GUIDE = Path("examples/ev-charging/v1.1.0-uei-guide")
SCHEMAS = Path("spec/v1.1/jsonschema-core-v1.1.0")


def example(beckn_dir: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((beckn_dir / GUIDE / name).read_text())
    return doc


def validate(beckn_dir: Path, action: str, doc: dict[str, Any]) -> None:
    defs = json.loads((beckn_dir / SCHEMAS / "definitions.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        "definitions.json", Resource.from_contents(defs)
    )
    schema = json.loads((beckn_dir / SCHEMAS / f"{action}.json").read_text())
    jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)


async def exchange(tmp_path: Path, doc: dict[str, Any], keys: KeyPair, action: str) -> Received:
    """POST ``doc`` signed by ``keys`` to a real BPP server; return the callback a real BAP got."""
    clock = FrozenClock(datetime.fromisoformat(doc["context"]["timestamp"]))
    bap = RecordingBap()
    with serve(bap.app()) as bap_url:
        doc["context"]["bap_uri"] = f"{bap_url}/beckn"
        bpp = make_bpp(tmp_path / "o.sqlite", clock, httpx.AsyncClient())
        with serve(create_app(bpp)) as bpp_url:
            body = encode(doc)
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{bpp_url}/{action}", content=body, headers=sign(body, keys, clock.now())
                )
            for _ in range(500):
                if bap.received:
                    break
                await asyncio.sleep(0.01)
    assert response.json() == {"message": {"ack": {"status": "ACK"}}}
    [callback] = bap.received
    assert callback.path == f"beckn/on_{action}"
    callback.verify_signature(BPP_KEYS, clock.now())
    ctx, sent = callback.json["context"], doc["context"]
    assert ctx["action"] == f"on_{action}"
    assert (ctx["transaction_id"], ctx["message_id"]) == (
        sent["transaction_id"],
        sent["message_id"],
    )
    assert (ctx["bpp_id"], ctx["bap_id"], ctx["domain"]) == (BPP_ID, sent["bap_id"], sent["domain"])
    return callback


def tags_of(node: dict[str, Any]) -> dict[str, str]:
    return {t["descriptor"]["code"]: t["value"] for g in node["tags"] for t in g["list"]}


async def test_uei_search_example_yields_the_catalog_on_search_shows(
    tmp_path: Path, beckn_dir: Path
) -> None:
    doc = example(beckn_dir, "01_search.json")
    callback = await exchange(tmp_path, doc, BAP_SEARCH, "search")
    validate(beckn_dir, "on_search", callback.json)
    validate_openapi(beckn_dir, callback.json)
    guide = example(beckn_dir, "02_on_search.json")["message"]["catalog"]["providers"][0]
    providers = {p["id"]: p for p in callback.json["message"]["catalog"]["providers"]}
    ours = providers["example_provider_id"]
    assert set(ours) >= set(guide) - {"categories"}
    # within 5 km of the point, CCS2 only: S1's DC connector and both of S2's; not Type2, not S3
    items = [i["id"] for p in providers.values() for i in p["items"]]
    assert sorted(items) == ["cp-s2-01", "cp-s2-02", "pe-charging-01"]
    item = ours["items"][0]
    assert set(tags_of(item)) >= set(tags_of(guide["items"][0]))
    assert tags_of(item)["connector-type"] == "CCS2"
    assert (tags_of(item)["charger-type"], tags_of(item)["power-rating"]) == ("DC", "30kW")
    assert item["price"] == {"value": "8.00", "currency": "INR/kWH"}
    assert ours["locations"][0]["gps"] == "12.430100,77.330200"
    assert ours["fulfillments"][0]["type"] == "CHARGING"
    assert tags_of(ours["fulfillments"][0])["charger-id"] == "pe-charging"


async def test_uei_select_example_yields_the_quote_on_select_shows(
    tmp_path: Path, beckn_dir: Path
) -> None:
    doc = example(beckn_dir, "03_select.json")
    doc["message"]["order"]["fulfillments"][0]["id"] = "pe-charging"
    callback = await exchange(tmp_path, doc, BAP, "select")
    validate(beckn_dir, "on_select", callback.json)
    validate_openapi(beckn_dir, callback.json)
    order = callback.json["message"]["order"]
    guide = example(beckn_dir, "04_on_select.json")["message"]["order"]
    assert set(order) == set(guide)
    assert order["provider"]["id"] == "example_provider_id"
    assert order["items"][0]["id"] == "pe-charging-01"
    assert order["items"][0]["quantity"]["selected"]["measure"] == {
        "type": "CONSTANT",
        "value": "4",
        "unit": "kWh",
    }
    stops = order["fulfillments"][0]["stops"]
    assert [(s["type"], datetime.fromisoformat(s["time"]["timestamp"])) for s in stops] == [
        (s["type"], datetime.fromisoformat(s["time"]["timestamp"]))
        for s in guide["fulfillments"][0]["stops"]
    ]
    quote = order["quote"]
    # 4 kWh at 8 INR/kWh = 32.00; 18 % tax = 5.76
    assert [(b["title"], b["price"]["value"]) for b in quote["breakup"]] == [
        ("charging session cost", "32.00"),
        ("tax", "5.76"),
    ]
    assert quote["breakup"][0]["item"]["quantity"]["selected"]["measure"]["value"] == "4"
    assert quote["price"] == {"currency": "INR", "value": "37.76"}
    assert quote["ttl"] == "PT15M"


@pytest.mark.parametrize("name", ["01_search.json", "03_select.json"])
async def test_guide_requests_validate_against_the_core_schemas(beckn_dir: Path, name: str) -> None:
    doc = example(beckn_dir, name)
    validate(beckn_dir, doc["context"]["action"], doc)
