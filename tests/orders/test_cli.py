"""``chargegrid keys``, ``registry add`` and ``serve registry|bpp`` as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import stat
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from chargegrid.inventory import save_inventory
from orders.signing import load_keypair
from tests.e2e.conftest import chargegrid, start_chargegrid
from tests.orders.support import BAP, RecordingBap, encode, estate, search_body, serve, sign


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_keys_generate_show_and_refuse_to_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "var"
    made = chargegrid(["keys", "generate"], data, CHARGEGRID_BPP_ID="bpp.test")
    assert made.returncode == 0, made.stderr
    key_file = data / "keys" / "signing_key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = chargegrid(["keys", "show"], data)
    assert shown.stdout == made.stdout
    assert shown.stdout.startswith("bpp.test|")
    assert json.loads(key_file.read_text())["signing_private_key"] not in shown.stdout
    again = chargegrid(["keys", "generate"], data)
    assert again.returncode == 2
    assert "--force" in again.stderr and "Traceback" not in again.stderr


def test_keys_show_without_keys_is_one_clear_line(tmp_path: Path) -> None:
    out = chargegrid(["keys", "show"], tmp_path / "var")
    assert out.returncode == 2
    assert "keys generate" in out.stderr and "Traceback" not in out.stderr


def test_registry_add_self_and_a_bad_file(tmp_path: Path) -> None:
    data = tmp_path / "var"
    chargegrid(["keys", "generate"], data)
    added = chargegrid(["registry", "add", "--self"], data)
    assert added.returncode == 0, added.stderr
    [entry] = json.loads((data / "registry.json").read_text())
    assert entry["signing_public_key"] == load_keypair(data / "keys").public_key_b64
    bad = tmp_path / "bad.json"
    bad.write_text("[{}]")
    refused = chargegrid(["registry", "add", str(bad)], data)
    assert refused.returncode == 2
    assert "bad.json" in refused.stderr


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"server did not listen: {log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_serve_registry_and_bpp_answer_a_signed_search(tmp_path: Path) -> None:
    data = tmp_path / "var"
    save_inventory(estate(), data / "inventory.json")
    bap_sub = {
        "subscriber_id": BAP.subscriber_id,
        "unique_key_id": BAP.unique_key_id,
        "type": "BAP",
        "url": "http://127.0.0.1:1",
        "signing_public_key": BAP.public_key_b64,
        "valid_from": "2000-01-01T00:00:00Z",
        "valid_until": "2100-01-01T00:00:00Z",
    }
    (tmp_path / "bap.json").write_text(json.dumps(bap_sub))
    reg_port, bpp_port = free_port(), free_port()
    env = {
        "CHARGEGRID_REGISTRY_URL": f"http://127.0.0.1:{reg_port}",
        "CHARGEGRID_BPP_ID": "bpp.test",
    }
    url, bpp_id = env["CHARGEGRID_REGISTRY_URL"], env["CHARGEGRID_BPP_ID"]
    generated = chargegrid(
        ["keys", "generate"], data, CHARGEGRID_REGISTRY_URL=url, CHARGEGRID_BPP_ID=bpp_id
    )
    assert generated.returncode == 0
    added = chargegrid(
        ["registry", "add", str(tmp_path / "bap.json")],
        data,
        CHARGEGRID_REGISTRY_URL=url,
        CHARGEGRID_BPP_ID=bpp_id,
    )
    assert added.returncode == 0
    bap = RecordingBap()
    registry = start_chargegrid(
        ["serve", "registry", "--port", str(reg_port)], data, tmp_path / "registry.log", **env
    )
    bpp = start_chargegrid(
        ["serve", "bpp", "--port", str(bpp_port)], data, tmp_path / "bpp.log", **env
    )
    try:
        wait_for_port(reg_port, registry, tmp_path / "registry.log")
        wait_for_port(bpp_port, bpp, tmp_path / "bpp.log")
        with serve(bap.app()) as bap_url:
            now = datetime.now(UTC)
            body = encode(search_body(now, bap_url))
            response = httpx.post(
                f"http://127.0.0.1:{bpp_port}/search",
                content=body,
                headers=sign(body, BAP, now),
                timeout=10,
            )
            deadline = time.monotonic() + 20
            while not bap.received and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop(bpp)
        stop(registry)
    assert response.json() == {"message": {"ack": {"status": "ACK"}}}, response.text
    [callback] = bap.received
    callback.verify_signature(load_keypair(data / "keys"), datetime.now(UTC))
    items = [i["id"] for p in callback.json["message"]["catalog"]["providers"] for i in p["items"]]
    assert sorted(items) == ["cp-s2-01", "cp-s2-02", "pe-charging-01"]
