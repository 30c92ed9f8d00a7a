"""Beckn BPP: signed ``search`` requests/s, p50/p99 ACK latency, callback delivery latency, the
BPP's CPU per request, and the full Hypothesis fuzz run (>= 2,000 requests through the HTTP edge,
none answered 5xx).

Real servers on 127.0.0.1 (uvicorn): the BPP over a 400-connector estate in its own process (as
``chargegrid serve bpp`` runs it: the load generator and the BAP must not share its interpreter
lock), and, in this process, a BAP that records when each ``on_search`` arrives. Requests are
signed per request (as a BAP must). The BPP's CPU seconds per request (from /proc) hold up on a
loaded machine where wall-clock figures do not. Baseline in the same run: the cost of signing +
verifying one body alone, so the ratio shows what the rest of the pipeline costs.

The BPP serves with uvloop + httptools as ``chargegrid serve bpp`` does (the CPU figure names the
loop and parser in use); ``CHARGEGRID_BENCH_LOOP=asyncio CHARGEGRID_BENCH_HTTP=h11`` compares.
Callback delivery latency here is measured with the BPP saturated (the load generator does not
wait for callbacks): past its capacity the ACKed-but-unanswered backlog grows for the whole run,
so that figure grows with ``REQUESTS`` and says more about throughput than about delivery. A
second, paced phase (``PACED_PER_S``, below capacity even on a loaded machine) measures delivery
where no backlog builds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from chargegrid.clock import SystemClock
from chargegrid.inventory import Charger, Connector, Inventory, Station
from orders.api import create_app
from orders.domain.catalog import build_catalog
from orders.domain.quote import FlatRatePricer
from orders.handlers import build_router
from orders.protocol import Bpp, BppConfig, callback_client
from orders.registry import Subscription
from orders.signing import AuthorizationHeader, KeyPair, verify
from orders.store import OrderStore

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 400
CONCURRENCY = 8
PACED_PER_S = 60.0  # offered load of the paced phase: requests started per second, all clients
PACED_REQUESTS = 180
BAP = KeyPair.generate("bench-bap", "k1")
BPP = KeyPair.generate("bench-bpp", "k1")


class Directory:
    """The bench BAP's key (``public_key_b64``: handed to the BPP process on its command line)."""

    def __init__(self, public_key_b64: str = BAP.public_key_b64) -> None:
        self.public_key_b64 = public_key_b64

    async def subscription(self, subscriber_id: str, unique_key_id: str) -> Subscription:
        return Subscription.model_validate(
            {
                "subscriber_id": BAP.subscriber_id,
                "unique_key_id": BAP.unique_key_id,
                "type": "BAP",
                "url": "http://127.0.0.1",
                "signing_public_key": self.public_key_b64,
                "valid_from": "2000-01-01T00:00:00Z",
                "valid_until": "2100-01-01T00:00:00Z",
            }
        )


def estate(stations: int = 100) -> Inventory:
    return Inventory(
        stations=tuple(
            Station(
                station_id=f"S{i}",
                name=f"Station {i}",
                lat=12.3 + i * 0.002,
                lon=77.3 + (i % 10) * 0.002,
            )
            for i in range(stations)
        ),
        chargers=tuple(
            Charger(
                charger_id=f"CP{i}-{j}",
                station_id=f"S{i}",
                connectors=(
                    Connector(
                        connector_id=1,
                        standard="IEC_62196_T2_COMBO",
                        current="DC",
                        max_power_w=60e3,
                    ),
                    Connector(
                        connector_id=2, standard="IEC_62196_T2", current="AC", max_power_w=22e3
                    ),
                ),
            )
            for i in range(stations)
            for j in range(2)
        ),
    )


def serve(app: FastAPI) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


def body_for(bap_uri: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {
            "context": {
                "domain": "ev-charging:uei",
                "action": "search",
                "version": "1.1.0",
                "bap_id": BAP.subscriber_id,
                "bap_uri": bap_uri,
                "transaction_id": "t",
                "message_id": str(uuid.uuid4()),
                "timestamp": now,
                "ttl": "PT30S",
            },
            "message": {
                "intent": {
                    "fulfillment": {
                        "stops": [
                            {
                                "location": {
                                    "circle": {
                                        "gps": "12.35,77.31",
                                        "radius": {"value": "3", "unit": "km"},
                                    }
                                }
                            }
                        ],
                        "tags": [
                            {"list": [{"descriptor": {"code": "connector-type"}, "value": "CCS2"}]}
                        ],
                    }
                }
            },
        }
    )


def baseline_sign_verify_s(rounds: int = 500) -> float:
    body = body_for("http://x")
    t0 = time.perf_counter()
    for _ in range(rounds):
        header = AuthorizationHeader.parse(BAP.authorization(body, created=1, expires=2))
        verify(body, header, BAP.public_key, datetime.fromtimestamp(1, UTC), 0)
    return (time.perf_counter() - t0) / rounds


async def drive(
    bpp_url: str,
    bap_uri: str,
    arrived: dict[str, float],
    requests: int = REQUESTS,
    per_s: float | None = None,
) -> tuple[list[float], list[float], float]:
    """Send ``requests`` signed searches from ``CONCURRENCY`` clients, each as soon as its
    client is free, or (``per_s``) the i-th not before ``i / per_s`` seconds from the start;
    returns ACK latencies, callback delivery latencies (s) and the sending time (s)."""
    sent: dict[str, float] = {}
    acks: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if per_s is not None:
                await asyncio.sleep(t_start + i / per_s - time.perf_counter())
            body = body_for(bap_uri)
            mid = orjson.loads(body)["context"]["message_id"]
            headers = {
                "Authorization": BAP.authorization_at(body, datetime.now(UTC), 60),
                "Content-Type": "application/json",
            }
            t0 = time.perf_counter()
            sent[mid] = t0
            response = await http.post(f"{bpp_url}/search", content=body, headers=headers)
            acks.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text

    t_start = time.perf_counter()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
        await asyncio.gather(*(client(http) for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - t_start
    deadline = time.monotonic() + 60
    while any(m not in arrived for m in sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    deliveries = [arrived[m] - sent[m] for m in sent if m in arrived]
    return acks, deliveries, elapsed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def serve_bpp(fd: int, bap_public_key_b64: str) -> None:
    """The BPP process: serve on the inherited listening socket ``fd`` until terminated."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = SystemClock()
        pricer = FlatRatePricer("INR", 1800, 1800)
        cat = build_catalog(estate(), None)
        bpp = Bpp(
            router=build_router(lambda: cat, pricer, clock, corridor_m=2000),
            store=OrderStore(Path(tmp) / "o.sqlite"),
            keys=BPP,
            directory=Directory(bap_public_key_b64),
            clock=clock,
            config=BppConfig(bpp_id="bench-bpp", bpp_uri="http://bpp", domain="ev-charging:uei"),
            http=callback_client(),
        )
        app = create_app(bpp)
        config = uvicorn.Config(
            app,
            log_level="warning",
            loop=os.environ.get("CHARGEGRID_BENCH_LOOP", "uvloop"),
            http=os.environ.get("CHARGEGRID_BENCH_HTTP", "httptools"),
        )
        server = uvicorn.Server(config)

        @app.get("/bench/server")
        async def implementation() -> dict[str, str]:
            """Which event loop and HTTP parser this process serves with."""
            return {
                "loop": type(asyncio.get_running_loop()).__module__,
                "http": config.http_protocol_class.__name__,
            }

        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        server.run(sockets=[socket.socket(fileno=fd)])


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_bpp() -> tuple[str, subprocess.Popen[bytes]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    cmd = [sys.executable, __file__, "--bpp", str(sock.fileno()), BAP.public_key_b64]
    proc = subprocess.Popen(cmd, pass_fds=[sock.fileno()], cwd=ROOT)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # the child holds its own copy
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # up once it answers (a NACK for a bad path is fine)
        try:
            httpx.post(f"{url}/ping", content=b"{}", timeout=5)
            return url, proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    msg = "the bench BPP did not start"
    raise RuntimeError(msg)


def main() -> None:
    arrived: dict[str, float] = {}
    bap = FastAPI()

    @bap.post("/{path:path}")
    async def on_any(path: str, request: Request) -> JSONResponse:
        arrived[orjson.loads(await request.body())["context"]["message_id"]] = time.perf_counter()
        return JSONResponse({"message": {"ack": {"status": "ACK"}}})

    bap_url, bap_server, bap_thread = serve(bap)
    bpp_url, bpp = start_bpp()
    try:
        server = httpx.get(f"{bpp_url}/bench/server", timeout=5).json()
        cpu_before = cpu_s(bpp.pid)
        acks, deliveries, elapsed = asyncio.run(drive(bpp_url, f"{bap_url}/cb", arrived))
        cpu_after = cpu_s(bpp.pid)
        _, paced, _ = asyncio.run(
            drive(bpp_url, f"{bap_url}/cb", arrived, PACED_REQUESTS, PACED_PER_S)
        )
    finally:
        bpp.terminate()
        bpp.wait(timeout=30)
        bap_server.should_exit = True
        bap_thread.join(timeout=10)
    crypto_s = baseline_sign_verify_s()
    rate = REQUESTS / elapsed
    emit(
        "beckn.search",
        "signed_requests_per_s",
        rate,
        "1/s",
        target=">= 200",
        meets=rate >= 200,
        concurrency=CONCURRENCY,
        requests=REQUESTS,
        connectors=400,
        load_avg_1m=os.getloadavg()[0],
    )
    p50, p99 = pct(acks, 50) * 1e3, pct(acks, 99) * 1e3
    emit("beckn.search", "ack_latency_p50", p50, "ms", target="<= 50", meets=p50 <= 50)
    emit("beckn.search", "ack_latency_p99", p99, "ms", target="<= 200", meets=p99 <= 200)
    d50 = pct(deliveries, 50) * 1e3 if deliveries else float("nan")
    d99 = pct(deliveries, 99) * 1e3 if deliveries else float("nan")
    emit(
        "beckn.search",
        "callback_delivery_p50",
        d50,
        "ms",
        target="<= 500",
        meets=d50 <= 500,
        delivered=len(deliveries),
    )
    emit("beckn.search", "callback_delivery_p99", d99, "ms", target="<= 2000", meets=d99 <= 2000)
    paced_p50 = pct(paced, 50) * 1e3 if paced else float("nan")
    emit(
        "beckn.search",
        "callback_delivery_p50_paced",
        paced_p50,
        "ms",
        target="<= 500",
        meets=paced_p50 <= 500,
        offered_per_s=PACED_PER_S,
        delivered=len(paced),
        p99_ms=pct(paced, 99) * 1e3 if paced else float("nan"),
    )
    if cpu_before is not None and cpu_after is not None:
        # receive + verify + ACK + search + on_search + sign + POST, all in the BPP process
        emit(
            "beckn.search",
            "bpp_cpu_per_request",
            (cpu_after - cpu_before) / REQUESTS * 1e3,
            "ms",
            target="<= 5 (200/s on one core)",
            meets=(cpu_after - cpu_before) / REQUESTS <= 0.005,
            server_loop=server["loop"],
            server_http=server["http"],
        )
    emit(
        "beckn.search",
        "sign_verify_baseline",
        crypto_s * 1e6,
        "us",
        ratio_ack_p50_to_crypto=p50 / (crypto_s * 1e3),
    )


FUZZ_SCALE = 4  # x the default example budgets of tests/orders/test_fuzz*.py: ~2,400 requests


def fuzz() -> None:
    """Run both fuzz modules at full scale; emit how many requests they sent without a 5xx."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "fuzz.jsonl"
        env = {
            **os.environ,
            "CHARGEGRID_FUZZ_SCALE": str(FUZZ_SCALE),
            "CHARGEGRID_FUZZ_REPORT": str(report),
        }
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", *FUZZ_TESTS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        lines = (
            [orjson.loads(x) for x in report.read_bytes().splitlines()] if report.exists() else []
        )
    requests = sum(int(x["requests"]) for x in lines)
    passed = done.returncode == 0
    if not passed:
        print(done.stdout[-3000:], file=sys.stderr)
    emit(
        "beckn.fuzz",
        "requests_without_5xx",
        requests if passed else 0,
        "requests",
        target=">= 2000, no 5xx, no internal error in a callback",
        meets=passed and requests >= 2000,
        acked=sum(int(x["acked"]) for x in lines),
        seconds=round(elapsed, 1),
    )


FUZZ_TESTS = ("tests/orders/test_fuzz.py", "tests/orders/test_fuzz_lifecycle.py")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bpp"]:
        serve_bpp(int(sys.argv[2]), sys.argv[3])
    else:
        main()
        fuzz()
