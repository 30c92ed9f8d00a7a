"""The ONE interface between orders and chargers: remote start/stop, reservations.

The BPP (``orders/``) asks the central system to start or stop charging through
:class:`ChargerCommands`; it never speaks OCPP itself. Implementations: :class:`CsmsCommands` on a
running central system in the same process (OCPP 1.6 RemoteStart/StopTransaction, 2.0.1
RequestStart/StopTransaction over the charger's live connection), :class:`HttpChargerCommands`
for a BPP in another process (``chargegrid serve bpp`` next to ``chargegrid serve csms``) and
:class:`FakeChargerCommands` for tests. Transaction ids are strings (1.6 integers as text).
Reservations: OCPP 1.6 ReserveNow/CancelReservation (connector), 2.0.1 the same names (EVSE);
a charger without the reservation feature answers with a CallError, reported as ``Unsupported``.

Cross-process transport: the CSMS answers ``GET /-/control/<verb>/...`` on its own WebSocket port
(:class:`ControlEndpoint`, hooked into the handshake's ``process_request``), only with
``Authorization: Bearer <token>``; the token is a random secret in ``<data_dir>/csms_control.token``
(mode 0600), created by the CSMS and read by the BPP, which share the data directory.
"""

from __future__ import annotations

import hmac
import itertools
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx

from chargegrid.errors import ChargegridError

if TYPE_CHECKING:
    from chargers.csms import CsmsContext


class ChargerOffline(ChargegridError):
    """The charger has no live connection to the central system."""


class ReserveStatus(StrEnum):
    """OCPP ReservationStatus (1.6) / ReserveNowStatusEnumType (2.0.1), plus ``Unsupported``."""

    accepted = "Accepted"
    faulted = "Faulted"
    occupied = "Occupied"
    rejected = "Rejected"
    unavailable = "Unavailable"
    unsupported = "Unsupported"  # the charger answered ReserveNow with a CallError


def reserve_status(text: str | None) -> ReserveStatus:
    try:
        return ReserveStatus(text or "")
    except ValueError:
        return ReserveStatus.rejected


def ocpp_time(at: datetime) -> str:
    """ISO 8601 UTC with ``Z``, as both OCPP versions want it."""
    return at.isoformat().replace("+00:00", "Z")


class ChargerCommands(Protocol):
    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        """Ask ``charger_id`` to start charging on ``connector_id`` for ``id_tag``; True when the
        charger accepted. Raises :class:`ChargerOffline` when it is not connected."""
        ...

    async def remote_stop(self, charger_id: str, transaction_id: str) -> bool:
        """Ask the charger to end ``transaction_id``; True when accepted."""
        ...

    async def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        """The open transaction on that connector, if the central system knows one."""
        ...

    async def reserve(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str,
        expires_at: datetime,
        reservation_id: int,
    ) -> ReserveStatus:
        """Hold ``connector_id`` for ``id_tag`` until ``expires_at`` (OCPP ReserveNow)."""
        ...

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool:
        """Release a reservation (OCPP CancelReservation); True when the charger accepted."""
        ...


@dataclass
class FakeChargerCommands:
    """Records commands; accepts them unless told otherwise; opens transaction ``"1"``, ``"2"``…"""

    accept: bool = True
    offline: set[str] = field(default_factory=set)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    open: dict[tuple[str, int], str] = field(default_factory=dict)
    reserve_answer: ReserveStatus = ReserveStatus.accepted
    reservations: dict[int, tuple[str, int, str]] = field(default_factory=dict)
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

    async def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        return self.open.get((charger_id, connector_id))

    async def reserve(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str,
        expires_at: datetime,
        reservation_id: int,
    ) -> ReserveStatus:
        self._online(charger_id)
        self.calls.append(("reserve", charger_id, str(connector_id), id_tag, ocpp_time(expires_at)))
        if self.reserve_answer == ReserveStatus.accepted:
            self.reservations[reservation_id] = (charger_id, connector_id, id_tag)
        return self.reserve_answer

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool:
        self._online(charger_id)
        self.calls.append(("unreserve", charger_id, str(reservation_id)))
        return self.reservations.pop(reservation_id, None) is not None

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

    async def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        for (cid, tx), conn in self.ctx.connectors.items():
            if cid == charger_id and conn == connector_id:
                return tx
        return None

    async def reserve(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str,
        expires_at: datetime,
        reservation_id: int,
    ) -> ReserveStatus:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from chargers.csms import CentralSystem16

        cp = self._cp(charger_id)
        if isinstance(cp, CentralSystem16):
            request: Any = call16.ReserveNow(
                connector_id=connector_id,
                expiry_date=ocpp_time(expires_at),
                id_tag=id_tag,
                reservation_id=reservation_id,
            )
        else:
            request = call201.ReserveNow(
                id=reservation_id,
                expiry_date_time=ocpp_time(expires_at),
                id_token={"id_token": id_tag, "type": "Central"},
                evse_id=connector_id,
            )
        result = await cp.call(request)  # a CallError (feature not implemented) gives None
        if result is None:
            return ReserveStatus.unsupported
        return reserve_status(str(result.status))

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool:
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from chargers.csms import CentralSystem16

        cp = self._cp(charger_id)
        module: Any = call16 if isinstance(cp, CentralSystem16) else call201
        result = await cp.call(module.CancelReservation(reservation_id=reservation_id))
        return result is not None and str(result.status) == "Accepted"


CONTROL_PREFIX = "/-/control/"
TOKEN_FILE = "csms_control.token"


def control_token(data_dir: Path, *, create: bool) -> str | None:
    """The shared control secret; created (0600) when ``create`` and missing."""
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # the other process made it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(token)
    return token


class ControlEndpoint:
    """Answers control requests on the CSMS's port; anything else goes on to the handshake."""

    def __init__(self, commands: ChargerCommands, token: str) -> None:
        self.commands = commands
        self.token = token

    async def respond(self, connection: Any, request: Any) -> Any:
        path = urlsplit(request.path).path
        if not path.startswith(CONTROL_PREFIX):
            return None
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "control token required\n")
        parts = [unquote(p) for p in path[len(CONTROL_PREFIX) :].split("/")]
        try:
            answer = await self._run(parts)
        except ChargerOffline as exc:
            return connection.respond(HTTPStatus.CONFLICT, f"{exc}\n")
        except (ValueError, IndexError):
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown control request\n")
        except Exception as exc:  # the charger answered with an OCPP error or timed out
            return connection.respond(HTTPStatus.BAD_GATEWAY, f"{type(exc).__name__}\n")
        return connection.respond(HTTPStatus.OK, json.dumps(answer) + "\n")

    async def _run(self, parts: list[str]) -> dict[str, Any]:
        verb = parts[0]
        if verb == "start" and len(parts) == 4:
            ok = await self.commands.remote_start(parts[1], int(parts[2]), parts[3])
            return {"accepted": ok}
        if verb == "stop" and len(parts) == 3:
            return {"accepted": await self.commands.remote_stop(parts[1], parts[2])}
        if verb == "transaction" and len(parts) == 3:
            return {"transaction_id": await self.commands.transaction_on(parts[1], int(parts[2]))}
        if verb == "reserve" and len(parts) == 6:
            expires_at = datetime.fromisoformat(parts[4])
            status = await self.commands.reserve(
                parts[1], int(parts[2]), parts[3], expires_at, int(parts[5])
            )
            return {"status": status.value}
        if verb == "unreserve" and len(parts) == 3:
            return {"accepted": await self.commands.cancel_reservation(parts[1], int(parts[2]))}
        raise ValueError(verb)


class HttpChargerCommands:
    """:class:`ChargerCommands` of a CSMS in another process (its control endpoint)."""

    def __init__(self, csms_http_url: str, token: str, http: httpx.AsyncClient) -> None:
        self.base = csms_http_url.rstrip("/") + CONTROL_PREFIX
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = http

    async def _get(self, *parts: str) -> dict[str, Any]:
        url = self.base + "/".join(quote(p, safe="") for p in parts)
        try:
            response = await self.http.get(url, headers=self.headers)
        except httpx.HTTPError as exc:
            msg = f"central system unreachable at {self.base}: {type(exc).__name__}"
            raise ChargerOffline(msg) from exc
        if response.status_code != HTTPStatus.OK:
            msg = f"central system answered {response.status_code}: {response.text.strip()[:200]}"
            raise ChargerOffline(msg)
        answer: dict[str, Any] = response.json()
        return answer

    async def remote_start(self, charger_id: str, connector_id: int, id_tag: str) -> bool:
        return bool((await self._get("start", charger_id, str(connector_id), id_tag))["accepted"])

    async def remote_stop(self, charger_id: str, transaction_id: str) -> bool:
        return bool((await self._get("stop", charger_id, transaction_id))["accepted"])

    async def transaction_on(self, charger_id: str, connector_id: int) -> str | None:
        tx = (await self._get("transaction", charger_id, str(connector_id)))["transaction_id"]
        return None if tx is None else str(tx)

    async def reserve(
        self,
        charger_id: str,
        connector_id: int,
        id_tag: str,
        expires_at: datetime,
        reservation_id: int,
    ) -> ReserveStatus:
        answer = await self._get(
            "reserve",
            charger_id,
            str(connector_id),
            id_tag,
            ocpp_time(expires_at),
            str(reservation_id),
        )
        return reserve_status(answer["status"])

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> bool:
        return bool((await self._get("unreserve", charger_id, str(reservation_id)))["accepted"])
