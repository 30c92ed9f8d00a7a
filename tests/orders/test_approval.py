"""An operator's approval of a provisional (pending) order: an order for a later window then holds
its connector (OCPP ReserveNow) like any advance confirmation, and cancelling releases it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chargers.commands import ReserveStatus, ocpp_time
from orders import notify, repo
from orders.domain.orders import Confirmation, OrderState
from orders.errors import ActionNotApplicable, FulfillmentUnavailable
from tests.orders.support import BAP
from tests.orders.test_lifecycle import Harness, approving
from tests.orders.test_reservations import START, reservation_tags, window

pytestmark = pytest.mark.anyio
__all__ = ["approving"]
LARGE = {"value": "20", "unit": "kWh"}  # 188.80 INR: above the fixture's 50 INR approval limit


async def pending_advance_order(h: Harness) -> str:
    order_id = await h.order(LARGE, **window())
    order = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert (order.state, order.reservation_id) == (OrderState.pending, None)
    assert h.commands.calls == []  # nothing is held while the operator has not approved
    return order_id


def on_confirms(h: Harness, since: int) -> list[dict[str, Any]]:
    return [cb.json for cb in h.bap.received[since:] if cb.path == "on_confirm"]


async def test_approving_an_advance_order_reserves_and_cancel_releases(approving: Harness) -> None:
    h = approving
    order_id = await pending_advance_order(h)
    before = len(h.bap.received)
    approved = await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    await h.bpp.idle()
    assert (approved.state, approved.confirmation) == (OrderState.confirmed, Confirmation.advance)
    stored = repo.order_by_id(h.store, BAP.subscriber_id, order_id)
    assert stored.reservation_id is not None and stored == approved
    expiry = ocpp_time(START + timedelta(minutes=15))
    assert h.commands.calls == [("reserve", "pe-charging", "1", stored.id_tag, expiry)]
    assert h.commands.reservations == {stored.reservation_id: ("pe-charging", 1, stored.id_tag)}
    [unsolicited] = on_confirms(h, before)  # the approval's on_confirm says what is held
    assert reservation_tags(unsolicited) == {
        "status": "Accepted",
        "reservation-id": str(stored.reservation_id),
    }
    cancelled = await h.send("cancel", {"order_id": order_id, "cancellation_reason_id": "2"})
    assert cancelled["message"]["order"]["status"] == "CANCELLED"
    assert h.commands.calls[-1] == ("unreserve", "pe-charging", str(stored.reservation_id))
    assert h.commands.reservations == {}


async def test_an_approval_the_charger_refuses_leaves_the_order_pending(
    approving: Harness,
) -> None:
    h = approving
    order_id = await pending_advance_order(h)
    h.commands.reserve_answer = ReserveStatus.occupied
    before = len(h.bap.received)
    with pytest.raises(FulfillmentUnavailable, match="Occupied"):
        await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    await h.bpp.idle()
    assert repo.order_by_id(h.store, BAP.subscriber_id, order_id).state == OrderState.pending
    assert on_confirms(h, before) == []
    h.commands.reserve_answer = ReserveStatus.accepted  # the operator tries again later
    await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    assert repo.order_by_id(h.store, BAP.subscriber_id, order_id).reservation_id is not None


async def test_approving_an_order_whose_window_has_begun_reserves_nothing(
    approving: Harness,
) -> None:
    h = approving
    order_id = await h.order(LARGE)
    approved = await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    assert approved.confirmation == Confirmation.instant
    assert h.commands.calls == []


async def test_an_order_cancelled_before_approval_is_neither_approved_nor_held(
    approving: Harness,
) -> None:
    h = approving
    order_id = await pending_advance_order(h)
    await h.send("cancel", {"order_id": order_id, "cancellation_reason_id": "2"})
    with pytest.raises(ActionNotApplicable):
        await notify.approve(h.bpp, BAP.subscriber_id, order_id, reservations=h.reservations)
    assert h.commands.calls == []
    assert repo.order_by_id(h.store, BAP.subscriber_id, order_id).state == OrderState.cancelled
