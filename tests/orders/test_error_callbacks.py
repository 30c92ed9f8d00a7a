"""Every ``on_<action>`` callback carrying a business error is a valid core v1.1.1 body.

The OpenAPI documents require ``message.catalog`` in ``on_search``, ``message.order`` in
``on_init``/``on_confirm``/``on_status``/``on_update``/``on_cancel``, ``message.tracking`` in
``on_track``, a ``message`` in ``on_rating`` and the reason/category list in the meta callbacks;
an error callback must satisfy them without inventing business content.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import jsonschema
import orjson
import pytest

from chargegrid.clock import FrozenClock
from orders.errors import BecknError, InternalError, OrderNotFound
from orders.models_v1 import Context
from orders.protocol import Action, Outcome, callback_action
from tests.orders.openapi import schema_for, validate_openapi
from tests.orders.support import BAP, BPP_ID, DOMAIN, T_EXAMPLE, make_bpp

pytestmark = [pytest.mark.shared]


def request_context(action: Action) -> Context:
    return Context(
        domain=DOMAIN,
        action=action.value,
        version="1.1.0",
        bap_id=BAP.subscriber_id,
        bap_uri="http://127.0.0.1:9/beckn",
        bpp_id=BPP_ID,
        transaction_id="t-err",
        message_id=f"m-{action.value}",
        timestamp=T_EXAMPLE,
    )


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("error", [OrderNotFound("no order o-1"), InternalError()])
def test_error_callback_validates_against_core_v1_1_1(
    tmp_path: Path, beckn_dir: Path, action: Action, error: BecknError
) -> None:
    bpp = make_bpp(tmp_path / "o.sqlite", FrozenClock(T_EXAMPLE), httpx.AsyncClient())
    cb = bpp.callback(request_context(action), Outcome(error=error))
    body = orjson.loads(cb.body)
    assert body["context"]["action"] == callback_action(action.value)
    validate_openapi(beckn_dir, body)
    assert body["error"] == error.to_wire()


def test_the_old_empty_message_is_what_the_schemas_refuse(beckn_dir: Path) -> None:
    """The check has teeth: ``message: {}`` is invalid for on_status (``order`` is required)."""
    body = {
        "context": {"action": "on_status", "domain": DOMAIN, "version": "1.1.0"},
        "message": {},
        "error": {"code": "30010", "message": "Order not found"},
    }
    with pytest.raises(jsonschema.ValidationError, match="'order' is a required property"):
        validate_openapi(beckn_dir, body)
    assert "$ref" in schema_for(beckn_dir, "on_status")
