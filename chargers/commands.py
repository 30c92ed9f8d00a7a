"""The ONE interface between orders and chargers: remote start/stop (and reservations).

The BPP (``orders/``) asks the central system to start or stop charging through
:class:`ChargerCommands`; it never speaks OCPP itself. Implementations: :class:`CsmsCommands` on a
running central system in the same process (OCPP 1.6 RemoteStart/StopTransaction, 2.0.1
RequestStart/StopTransaction over the charger's live connection) and :class:`FakeChargerCommands`
for tests. Transaction ids are strings (1.6 integers are rendered as text).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chargegrid.errors import ChargegridError

if TYPE_CHECKING:
    from chargers.csms import CsmsContext


class ChargerOffline(ChargegridError):
    """The charger has no live connection to the central system."""


class ChargerCommands(Protocol):
    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        """Ask ``charger_id`` to start charging on ``connector_id`` for ``id_tag``; True when the
        charger accepted. Raises :class:`ChargerOffline` when it is not connected."""
        ...

    async def remote_stop(self, charger_id: str, transaction_id: str) -> bool:
        """Ask the charger to end ``transaction_id``; True when accepted."""
        ...

    def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        """The open transaction on that connector, if the central system knows one."""
        ...


@dataclass
class FakeChargerCommands:
    """Records commands; accepts them unless told otherwise; opens transaction ``"1"``, ``"2"``…"""

    accept: bool = True
    offline: set[str] = field(default_factory=set)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    open: dict[tuple[str, int], str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        self._online(charger_id)
        self.calls.append(("start", charger_id, str(connector_id), id_tag))
        if self.accept:
            self.open[(charger_id, connector_id)] = str(next(self._ids))
        return self.accept

    async def remote_stop(self, charger_id: str, transaction_id: str) -> bool:
        self._online(charger_id)
        self.calls.append(("stop", charger_id, transaction_id))
        if self.accept:
            self.open = {k: v for k, v in self.open.items() if v != transaction_id}
        return self.accept

    def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        return self.open.get((charger_id, connector_id))

    def _online(self, charger_id: str) -> None:
        if charger_id in self.offline:
            msg = f"charger {charger_id} is not connected"
            raise ChargerOffline(msg)


class CsmsCommands:
    """Commands over the live connections of an in-process central system."""

    def __init__(self, ctx: CsmsContext) -> None:
        self.ctx = ctx
        self._remote_ids = itertools.count(1)

    def _cp(self, charger_id: str) -> Any:
        cp = self.ctx.live.get(charger_id)
        if cp is None:
            msg = f"charger {charger_id} is not connected"
            raise ChargerOffline(msg)
        return cp

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from chargers.csms import CentralSystem16

        cp = self._cp(charger_id)
        if isinstance(cp, CentralSystem16):
            result = await cp.call(
                call16.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id)
            )
        else:
            result = await cp.call(
                call201.RequestStartTransaction(
                    id_token={"id_token": id_tag, "type": "Central"},
                    remote_start_id=next(self._remote_ids),
                    evse_id=connector_id,
                )
            )
        return bool(result.status == "Accepted")

    async def remote_stop(self, charger_id: str, transaction_id: str) -> bool:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from chargers.csms import CentralSystem16

        cp = self._cp(charger_id)
        if isinstance(cp, CentralSystem16):
            result = await cp.call(call16.RemoteStopTransaction(transaction_id=int(transaction_id)))
        else:
            result = await cp.call(call201.RequestStopTransaction(transaction_id=transaction_id))
        return bool(result.status == "Accepted")

    def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        for (cid, tx), conn in self.ctx.connectors.items():
            if cid == charger_id and conn == connector_id:
                return tx
        return None
