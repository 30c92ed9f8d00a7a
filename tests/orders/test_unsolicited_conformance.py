"""Unsolicited callbacks (moved order, cancelled by us, resolved ticket, periodic status) are valid
core v1.1.1 bodies too."""

from __future__ import annotations

from pathlib import Path

import pytest

from orders import notify
from orders.faults import FaultWatch
from orders.handlers import OrderPolicy
from tests.orders.openapi import validate_openapi
from tests.orders.test_faults import Estate, world
from tests.orders.test_lifecycle import Harness

pytestmark = [pytest.mark.anyio, pytest.mark.shared]
__all__ = ["world"]


async def test_unsolicited_callbacks_validate(
    world: tuple[Harness, Estate, FaultWatch], beckn_dir: Path
) -> None:
    h, estate, watch = world
    moved = await h.order({"value": "4", "unit": "kWh"}, tx="t-1")
    await h.order({"value": "4", "unit": "kWh"}, tx="t-2", item="pe-charging-02")
    before = len(h.bap.received)
    estate.set(pe_charging_1="Faulted", pe_charging_2="Faulted")  # t-1 moves; t-2 (Type2) cannot
    await watch.check(h.bpp)
    await h.update(moved, "start-charging")
    notify.status_tick(h.bpp, lambda order: 1_000)
    ticket = await h.send("support", {"support": {"ref_id": "t-1"}}, tx="t-1")
    ticket_id = ticket["message"]["support"]["url"].rsplit("/", 1)[1]
    notify.resolve_ticket(h.bpp, ticket_id, "fixed", OrderPolicy(dashboard_url="http://d.test"))
    await h.bpp.idle()
    seen = {cb.path for cb in h.bap.received[before:]}
    assert {"on_update", "on_cancel", "on_status", "on_support"} <= seen
    for cb in h.bap.received[before:]:
        validate_openapi(beckn_dir, cb.json)
