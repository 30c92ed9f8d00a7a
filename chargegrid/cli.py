"""``chargegrid`` command line. Each command parses its options and calls one function.

Subsystems are imported inside commands so ``chargegrid --help`` stays fast and a broken optional
piece never stops the others.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chargegrid.errors import ChargegridError
from chargegrid.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
serve_app = typer.Typer(no_args_is_help=True, help="Run one server in the foreground.")
pipeline_app = typer.Typer(no_args_is_help=True, help="The Bytewax stream.")
app.add_typer(serve_app, name="serve")
app.add_typer(pipeline_app, name="pipeline")

err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="state root (default $CHARGEGRID_DATA_DIR or ./var)"),
]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the warehouse catalog")],
    fmt: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Query the warehouse (read-only DuckDB catalog of views over the Parquet lake)."""
    from warehouse.sql import run_query

    typer.echo(run_query(_settings(data_dir), query, fmt.value), nl=False)


@app.command()
def publish(
    topic: Annotated[str, typer.Argument(help="a topic, e.g. meter_readings")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    data_dir: DataDir = None,
) -> None:
    """Append raw events (one JSON object per line) to the event log, untouched."""
    from chargegrid.publish import publish_file

    count = publish_file(_settings(data_dir), topic, file)
    typer.echo(f"appended {count} records to {topic}")


@pipeline_app.command("run")
def pipeline_run(
    until_drained: Annotated[
        bool, typer.Option("--until-drained", help="stop once the log is fully consumed")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run the stream: event log -> validate -> sessions -> Parquet lake + live snapshot."""
    from pipeline.runner import run

    run(_settings(data_dir), until_drained=until_drained)


@serve_app.command("pipeline")
def serve_pipeline(data_dir: DataDir = None) -> None:
    """Run the stream until interrupted."""
    pipeline_run(until_drained=False, data_dir=data_dir)


@serve_app.command("csms")
def serve_csms(
    port: Annotated[int | None, typer.Option(help="WebSocket port")] = None,
    data_dir: DataDir = None,
) -> None:
    """OCPP 1.6J / 2.0.1 central system on ws://HOST:PORT/<charger_id>."""
    from chargers.server import serve

    settings = _settings(data_dir) if port is None else _settings(data_dir, csms_port=port)
    serve(settings)


@serve_app.command("dashboard")
def serve_dashboard(
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    data_dir: DataDir = None,
) -> None:
    """Operator dashboards (Dash) on http://HOST:PORT/."""
    from dashboards.app import serve

    settings = _settings(data_dir) if port is None else _settings(data_dir, dashboard_port=port)
    serve(settings)


class ReplaySource(StrEnum):
    dundee = "dundee"


@app.command()
def replay(
    source: Annotated[ReplaySource, typer.Argument()],
    path: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    limit: Annotated[int | None, typer.Option(help="first N rows only")] = None,
    speed: Annotated[str, typer.Option(help="simulated seconds per wall second, or 'max'")] = "max",
    embedded: Annotated[
        bool, typer.Option(help="start central system and pipeline too, wait until drained")
    ] = False,
    csms_url: Annotated[
        str | None, typer.Option(help="central system to replay against (default: local)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Drive real OCPP simulators from recorded sessions; unreplayable rows are dead-lettered."""
    from chargegrid.replay import ReplayOptions, run_replay

    report = run_replay(
        _settings(data_dir),
        ReplayOptions(
            source=source.value,
            paths=tuple(path),
            limit=limit,
            speed=_parse_speed(speed),
            embedded=embedded,
            csms_url=csms_url,
        ),
    )
    typer.echo(report.summary())


@app.command()
def demo(
    speed: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 60.0,
    stations: Annotated[int, typer.Option(help="stations in the synthetic city")] = 12,
    seed: Annotated[int, typer.Option()] = 7,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many wall seconds (default: Ctrl-C)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Everything, embedded: a synthetic city over real OCPP -> pipeline -> warehouse -> Dash."""
    from chargegrid.demo import DemoOptions, run_demo

    run_demo(
        _settings(data_dir),
        DemoOptions(speed=speed, stations=stations, seed=seed, duration_s=duration),
    )


# -- serve subcommands added by subsystems go above this line --


class ImportSource(StrEnum):
    dundee = "dundee"
    perth = "perth"
    boulder = "boulder"
    sap = "sap"
    epfl = "epfl"
    acn = "acn"
    afdc = "afdc"


@app.command(name="import")
def import_history(
    source: Annotated[ImportSource, typer.Argument(help="afdc = station registry only")],
    path: Annotated[list[Path], typer.Argument(exists=True, help="export files or folders")],
    data_dir: DataDir = None,
) -> None:
    """Historical sessions (and stations) -> warehouse; replaces what that source held before."""
    from rich.progress import Progress

    from warehouse.importers.run import run_import

    with Progress(console=err, transient=True) as progress:
        report = run_import(_settings(data_dir), source.value, list(path), progress)
    Console().print(report.table())


# -- commands added by subsystems go above this line, one block each (keep imports lazy) --


def _parse_speed(text: str) -> float | None:
    """``max`` -> None (as fast as possible); otherwise a positive factor."""
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        msg = f"--speed must be a positive number or 'max', not {text!r}"
        raise typer.BadParameter(msg)
    return value


def main() -> None:
    try:
        app()
    except ChargegridError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
