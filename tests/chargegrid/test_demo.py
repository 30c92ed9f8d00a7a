"""The demo's own state folder, and the orchestration's failure messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargegrid.demo import MARKER, DemoError, demo_settings, fresh_data_dir
from chargegrid.orchestrate import Child, ChildFailed, free_port, wait_for_port
from chargegrid.settings import Settings, load_settings


def test_the_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    settings = demo_settings(load_settings(data_dir=tmp_path))
    settings.data_dir.mkdir(parents=True)
    precious = settings.data_dir / "lake.parquet"
    precious.write_text("someone's data")
    with pytest.raises(DemoError, match="was not made by the demo"):
        fresh_data_dir(settings)
    assert precious.read_text() == "someone's data"


def test_the_demo_starts_its_own_folder_afresh(tmp_path: Path) -> None:
    settings = demo_settings(load_settings(data_dir=tmp_path))
    fresh_data_dir(settings)
    (settings.data_dir / "old-run.txt").write_text("stale")
    fresh_data_dir(settings)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [MARKER]


def test_a_child_that_dies_before_listening_is_reported_with_its_log(settings: Settings) -> None:
    child = Child("broken", ["no-such-command"], settings).start()
    with pytest.raises(ChildFailed, match="broken exited early"):
        wait_for_port("127.0.0.1", free_port("127.0.0.1"), 30.0, child)
    child.stop()
    assert "no-such-command" in child.tail()


def test_the_demo_sends_live_status_often_enough_for_its_drivers_to_see_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its drivers charge ~2 s each: at the default 30 s they would see no ``on_status``."""
    assert load_settings(data_dir=tmp_path).beckn_status_every_s == 30.0
    assert demo_settings(load_settings(data_dir=tmp_path)).beckn_status_every_s == 1.0
    monkeypatch.setenv("CHARGEGRID_BECKN_STATUS_EVERY_S", "7")
    assert demo_settings(load_settings(data_dir=tmp_path)).beckn_status_every_s == 7.0
