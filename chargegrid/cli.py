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
from rich.text import Text

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
    process_id: Annotated[
        int | None,
        typer.Option("--process-id", "-i", help="this process's index in --addresses (cluster)"),
    ] = None,
    addresses: Annotated[
        str | None,
        typer.Option("--addresses", "-a", help="cluster: host:port;host:port;... of every process"),
    ] = None,
) -> None:
    """Run the stream: event log -> validate -> sessions -> Parquet lake + live snapshot."""
    from pipeline.cluster import ClusterSpec
    from pipeline.runner import run

    cluster = ClusterSpec.parse(process_id, addresses)
    run(_settings(data_dir), until_drained=until_drained, cluster=cluster)


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
    orders: Annotated[
        bool, typer.Option(help="run a Beckn registry and BPP; demo drivers order via a BAP")
    ] = True,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many wall seconds (default: Ctrl-C)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Everything, embedded: a synthetic city over real OCPP -> pipeline -> warehouse -> Dash."""
    from chargegrid.demo import DemoOptions, run_demo

    run_demo(
        _settings(data_dir),
        DemoOptions(speed=speed, stations=stations, seed=seed, duration_s=duration, orders=orders),
    )


@serve_app.command("bpp")
def serve_bpp(
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    data_dir: DataDir = None,
) -> None:
    """Beckn BPP (signed, validated ACK/NACK; on_* callbacks from an outbox) on HOST:PORT."""
    from orders.api import serve_bpp as run

    run(_settings(data_dir) if port is None else _settings(data_dir, bpp_port=port))


@serve_app.command("registry")
def serve_registry(
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    data_dir: DataDir = None,
) -> None:
    """File-backed Beckn registry answering /lookup (local and test networks)."""
    from orders.registry import serve_registry as run

    settings = _settings(data_dir)
    run(settings.registry_path, settings.host, port or settings.registry_port)


# -- serve subcommands added by subsystems go above this line --


class ImportSource(StrEnum):
    dundee = "dundee"
    perth = "perth"
    boulder = "boulder"
    sap = "sap"
    epfl = "epfl"
    acn = "acn"
    afdc = "afdc"
    entsoe = "entsoe"


@app.command(name="import")
def import_history(
    source: Annotated[
        ImportSource, typer.Argument(help="afdc = station registry only; entsoe = prices")
    ],
    path: Annotated[list[Path], typer.Argument(exists=True, help="export files or folders")],
    replace: Annotated[
        bool, typer.Option("--replace", help="forget this source's earlier imports first")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Historical sessions (and stations) -> warehouse, merged into what the source holds (a
    file imported before is skipped by content); entsoe: day-ahead prices."""
    from rich.progress import Progress

    from warehouse.importers.run import run_import

    if source is ImportSource.entsoe:
        from warehouse.importers.prices import run_price_import

        typer.echo("\n".join(run_price_import(_settings(data_dir), source.value, path).lines()))
        return
    with Progress(console=err, transient=True) as progress:
        report = run_import(_settings(data_dir), source.value, list(path), progress, replace)
    Console().print(report.table())


site_app = typer.Typer(no_args_is_help=True, help="Siting: p-median benchmarks, site proposals.")
app.add_typer(site_app, name="site")


@site_app.command("pmed")
def site_pmed(
    file: Annotated[Path, typer.Argument(help="an OR-Library pmedN.txt")],
    p: Annotated[int | None, typer.Option("-p", help="medians (default: the file's)")] = None,
    starts: Annotated[int, typer.Option(help="independent search starts")] = 4,
    seed: Annotated[int, typer.Option(help="seed of start 0 (start s uses seed + s)")] = 0,
) -> None:
    """Solve an OR-Library p-median instance; print objective, gap to the optimum, time."""
    from models.siting.orlib import run_pmed
    from models.siting.pmedian import SolverOptions

    run = run_pmed(file, p, SolverOptions(starts=starts, seed=seed))
    typer.echo(run.summary())
    typer.echo("sites " + " ".join(str(v) for v in run.sites))


class SiteSource(StrEnum):
    dundee = "dundee"
    perth = "perth"
    boulder = "boulder"
    afdc = "afdc"


@site_app.command("propose")
def site_propose(
    path: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    k: Annotated[int, typer.Option("-k", help="new sites to add to the existing network")],
    source: Annotated[SiteSource, typer.Option(help="whose session exports PATH are")],
    cell_km: Annotated[float, typer.Option(help="demand grid cell size")] = 0.5,
    spread_km: Annotated[float, typer.Option(help="demand kernel width around a site")] = 1.5,
    detour: Annotated[float, typer.Option(help="road / great-circle distance")] = 1.3,
    starts: Annotated[int, typer.Option(help="independent search starts")] = 4,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="proposal + heatmap as JSON")] = False,
    days: Annotated[
        int, typer.Option(help="simulate N days before/after (unmet demand fed back); 0: no")
    ] = 7,
    scale: Annotated[float, typer.Option(help="simulated demand x observed (or assumed)")] = 1.0,
    city: Annotated[list[str] | None, typer.Option(help="afdc: keep these cities")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="also write the JSON here (dashboard)")
    ] = None,
) -> None:
    """Add k sites to a real network; print before/after service distance (and simulated wait)."""
    import json

    from models.siting.pmedian import SolverOptions

    solver = SolverOptions(starts=starts, seed=seed)
    if days > 0 or source != SiteSource.dundee:
        from models.siting.evaluate import EvaluateOptions, evaluated_proposal

        checked = evaluated_proposal(source.value, path, EvaluateOptions(
            k=k, days=days, cell_km=cell_km, spread_km=spread_km, detour=detour, scale=scale,
            city=tuple(city or ()), solver=solver, seed=seed,
        ))  # fmt: skip
        _save_json(output, checked.as_dict())
        typer.echo(json.dumps(checked.as_dict()) if as_json else checked.text())
        return
    from models.siting.proposal import ProposalOptions, city_proposal

    options = ProposalOptions(
        k=k, cell_km=cell_km, spread_km=spread_km, detour=detour,
        solver=SolverOptions(starts=starts, seed=seed),
    )  # fmt: skip
    result = city_proposal(source.value, path, options)
    _save_json(output, result.as_dict())
    typer.echo(json.dumps(result.as_dict()) if as_json else result.text())


def _save_json(path: Path | None, document: dict[str, object]) -> None:
    import json

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document), encoding="utf-8")


keys_app = typer.Typer(no_args_is_help=True, help="Our Beckn ed25519 signing key pair.")
registry_app = typer.Typer(no_args_is_help=True, help="The local file-backed Beckn registry.")
app.add_typer(keys_app, name="keys")
app.add_typer(registry_app, name="registry")


@keys_app.command("generate")
def keys_generate(
    force: Annotated[bool, typer.Option(help="replace an existing key pair")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create our key pair under DATA_DIR/keys (private key file mode 0600)."""
    from orders.keys import generate_keys

    keys = generate_keys(_settings(data_dir), force=force)
    typer.echo(f"{keys.subscriber_id}|{keys.unique_key_id}|ed25519 {keys.public_key_b64}")


@keys_app.command("show")
def keys_show(data_dir: DataDir = None) -> None:
    """Print our keyId and public key (never the private key)."""
    from orders.signing import load_keypair

    keys = load_keypair(_settings(data_dir).keys_dir)
    typer.echo(f"{keys.subscriber_id}|{keys.unique_key_id}|ed25519 {keys.public_key_b64}")


@registry_app.command("add")
def registry_add(
    file: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="subscriber(s) JSON")
    ] = None,
    self_: Annotated[bool, typer.Option("--self", help="register our own key as BPP")] = False,
    data_dir: DataDir = None,
) -> None:
    """Add subscribers from a JSON file (one object or a list), or our own key with --self."""
    from chargegrid.clock import SystemClock
    from orders.keys import register_self
    from orders.registry import RegistryStore

    settings = _settings(data_dir)
    if self_:
        sub = register_self(settings, SystemClock())
        typer.echo(f"registered {sub.subscriber_id}|{sub.unique_key_id} until {sub.valid_until}")
    if file is not None:
        count = RegistryStore(settings.registry_path).add_file(file)
        typer.echo(f"registered {count} subscriber(s) from {file}")
    if file is None and not self_:
        msg = "give a subscribers JSON file or --self"
        raise typer.BadParameter(msg)


@app.command()
def bill(
    readings: Annotated[Path, typer.Option(help="meter readings Parquet (warehouse schema)")],
    tariff: Annotated[
        Path | None,
        typer.Option(help="tariff file (data/tariffs/*.json); with --inventory the default"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the per-session breakup here")
    ] = None,
    sessions: Annotated[
        Path | None, typer.Option(help="sessions Parquet: plug-in/out and meter start/stop")
    ] = None,
    prices: Annotated[
        list[Path] | None, typer.Option(help="ENTSO-E day-ahead CSV (dynamic tariffs; repeat)")
    ] = None,
    explain: Annotated[
        str | None, typer.Option(help="print a readable account of this session's bill")
    ] = None,
    inventory: Annotated[
        Path | None, typer.Option(help="inventory JSON: bill each charger under its tariff")
    ] = None,
    tariff_dir: Annotated[
        list[Path] | None,
        typer.Option(
            help="tariffs by id for --inventory (repeat; default data/tariffs, then "
            "<data dir>/tariffs; default tariff <data dir>/tariff.json)"
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Bill sessions from meter readings: itemised lines in integer minor units."""
    from pipeline.billing import BillFiles, bill_files

    if output is None and explain is None:
        msg = "give -o OUT.parquet and/or --explain SESSION"
        raise typer.BadParameter(msg)
    if tariff is None and inventory is None:
        msg = "give --tariff FILE, or --inventory FILE to take tariffs per charger"
        raise typer.BadParameter(msg)
    if inventory is not None:  # defaults: repo and operator tariffs, the operator's tariff.json
        state = _settings(data_dir).data_dir
        if tariff_dir is None:
            found = [Path(__file__).resolve().parents[1] / "data" / "tariffs", state / "tariffs"]
            tariff_dir = [d for d in found if d.is_dir()]
        if tariff is None and (state / "tariff.json").exists():
            tariff = state / "tariff.json"
    files = BillFiles(
        tariff, readings, output, sessions, tuple(prices or ()), explain, inventory,
        tuple(tariff_dir or ()),
    )  # fmt: skip
    typer.echo(bill_files(files))


catalog_app = typer.Typer(no_args_is_help=True, help="The DuckDB catalog: dictionary, compaction.")
report_app = typer.Typer(no_args_is_help=True, help="Utilisation reports and interval exports.")
app.add_typer(catalog_app, name="catalog")
app.add_typer(report_app, name="report")


class DictionaryFormat(StrEnum):
    md = "md"
    csv = "csv"


@catalog_app.command("dictionary")
def catalog_dictionary(
    fmt: Annotated[DictionaryFormat, typer.Option("--format")] = DictionaryFormat.md,
    data_dir: DataDir = None,
) -> None:
    """Print the data dictionary: every catalog view and column with type, unit and meaning."""
    from warehouse import dictionary

    typer.echo(dictionary.to_markdown() if fmt is DictionaryFormat.md else dictionary.to_csv())


@catalog_app.command("refresh")
def catalog_refresh(
    min_age_days: Annotated[
        int, typer.Option(help="materialise UTC days at least this old (closed partitions)")
    ] = 2,
    data_dir: DataDir = None,
) -> None:
    """Materialise session facts and utilisation slots of closed days, rebuild the catalog."""
    from chargegrid.clock import SystemClock
    from warehouse.catalog import refresh

    path, report = refresh(_settings(data_dir), SystemClock(), min_age_days)
    typer.echo(
        f"{path}: {len(report.built)} unit(s) materialised, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed; {len(report.open_dates)} open day(s) computed live"
    )


@catalog_app.command("compact")
def catalog_compact(
    min_age_days: Annotated[
        int, typer.Option(help="only UTC days at least this old (closed partitions)")
    ] = 2,
    data_dir: DataDir = None,
) -> None:
    """Merge the small pipeline files of closed, committed date partitions (readers unblocked)."""
    from chargegrid.clock import SystemClock
    from warehouse.compact import compact_lake

    settings = _settings(data_dir)
    report = compact_lake(
        settings.lake_dir, settings.recovery_dir, SystemClock(), min_age_days=min_age_days
    )
    for table, merged in report.merged_partitions.items():
        typer.echo(
            f"{table}: {merged} partition(s) merged from {report.files_before[table]} files "
            f"({report.rows[table]:,} rows); {len(report.skipped[table])} skipped"
        )


class ReportBy(StrEnum):
    station = "station"
    connector = "connector"
    site = "site"


class ReportGrain(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class ReportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    html = "html"


FromDay = Annotated[str, typer.Option("--from", help="first UTC day, YYYY-MM-DD")]
ToDay = Annotated[str, typer.Option("--to", help="last UTC day (inclusive), YYYY-MM-DD")]
ReportSource = Annotated[
    str, typer.Option("--source", help="all | pipeline | import | import:<source>")
]


@report_app.command("utilisation")
def report_utilisation_cmd(
    first: FromDay,
    last: ToDay,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write")],
    by: Annotated[ReportBy, typer.Option("--by")] = ReportBy.station,
    grain: Annotated[
        list[ReportGrain] | None, typer.Option("--grain", help="repeat for several (sheets)")
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.csv,
    source: ReportSource = "all",
    data_dir: DataDir = None,
) -> None:
    """Sessions, energy, occupied/charging %, idle-after-full, NEVI uptime, revenue, starts."""
    from warehouse.reports.run import report_utilisation
    from warehouse.reports.utilisation import parse_range

    rng = parse_range(first, last, source)
    grains = [g.value for g in grain or [ReportGrain.day]]
    rows = report_utilisation(_settings(data_dir), rng, by.value, grains, fmt.value, output)
    typer.echo(f"wrote {output} ({', '.join(f'{g}: {n:,} rows' for g, n in rows.items())})")


@report_app.command("intervals")
def report_intervals_cmd(
    first: FromDay,
    last: ToDay,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write")],
    by: Annotated[ReportBy, typer.Option("--by")] = ReportBy.connector,
    slot: Annotated[str, typer.Option("--slot", help="15m | hourly")] = "15m",
    fmt: Annotated[ReportFormat, typer.Option("--format", help="csv | xlsx")] = ReportFormat.csv,
    source: ReportSource = "all",
    data_dir: DataDir = None,
) -> None:
    """Per port/station/site and 15-minute slot: plugged-in minutes, energy, sessions started."""
    from warehouse.reports.run import report_intervals
    from warehouse.reports.utilisation import parse_range

    rng = parse_range(first, last, source)
    rows = report_intervals(_settings(data_dir), rng, by.value, fmt.value, output, slot)
    typer.echo(f"wrote {output} ({rows:,} rows)")


forecast_app = typer.Typer(no_args_is_help=True, help="Demand forecasts: walk-forward backtests.")
simulate_app = typer.Typer(no_args_is_help=True, help="Discrete-event simulation of drivers.")
app.add_typer(forecast_app, name="forecast")
app.add_typer(simulate_app, name="simulate")


class ForecastSource(StrEnum):
    dundee = "dundee"
    perth = "perth"
    boulder = "boulder"
    acn = "acn"


class ForecastHorizon(StrEnum):
    day = "day"
    week = "week"
    both = "both"


class ForecastLevel(StrEnum):
    site = "site"
    city = "city"


class ForecastTarget(StrEnum):
    energy = "energy"
    occupancy = "occupancy"


@forecast_app.command("backtest")
def forecast_backtest(
    path: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[ForecastSource, typer.Option(help="whose session exports PATH are")],
    horizon: Annotated[ForecastHorizon, typer.Option()] = ForecastHorizon.day,
    level: Annotated[ForecastLevel, typer.Option(help="one series per site, or the city")] = (
        ForecastLevel.site
    ),
    target: Annotated[
        list[ForecastTarget] | None, typer.Option(help="energy and/or occupancy (default both)")
    ] = None,
) -> None:
    """Walk-forward backtest: the model's MAE/RMSE/WAPE/MASE/pinball/coverage beside baselines."""
    from models.forecast.run import backtest_files

    targets = [t.value for t in (target or list(ForecastTarget))]
    loaded, results = backtest_files(source.value, path, level.value, horizon.value, targets)
    dropped = ", ".join(f"{reason} {n}" for reason, n in loaded.rejected.most_common())
    typer.echo(f"{len(loaded.sessions)} sessions read; left out: {dropped or 'none'}\n")
    typer.echo("\n\n".join(r.text for r in results))


@simulate_app.command("mmc")
def simulate_mmc(
    lam: Annotated[float, typer.Option("--lam", help="arrivals per second")],
    mu: Annotated[float, typer.Option("--mu", help="services per second per connector")],
    c: Annotated[int, typer.Option("--c", help="connectors")],
    customers: Annotated[int, typer.Option(help="vehicles to simulate")] = 200_000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Simulate an M/M/c queue and print it beside the exact Erlang-C figures."""
    from models.simulate.run import mmc_report

    typer.echo(mmc_report(lam, mu, c, customers, seed))


@simulate_app.command("city")
def simulate_city(
    path: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[ForecastSource, typer.Option(help="whose session exports PATH are")],
    days: Annotated[int, typer.Option(help="simulated days")] = 28,
    scale: Annotated[float, typer.Option(help="demand as a multiple of the observed")] = 1.0,
    patience_min: Annotated[float, typer.Option(help="minutes a driver waits")] = 30.0,
    detour_km: Annotated[float, typer.Option(help="farthest site a driver tries")] = 2.0,
    add_site: Annotated[
        list[str] | None, typer.Option(help="NAME:LAT:LON:CONNECTORS:KW, repeatable")
    ] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Fitted arrivals on the real estate: utilisation, waits, abandonment (before/after sites)."""
    from models.simulate.run import CityOptions, city_report, parse_site

    options = CityOptions(
        days=days, scale=scale, patience_min=patience_min, detour_km=detour_km, seed=seed,
        new_sites=tuple(parse_site(s) for s in add_site or ()),
    )  # fmt: skip
    typer.echo(city_report(source.value, path, options))


@pipeline_app.command("mirror")
def pipeline_mirror(
    follow: Annotated[bool, typer.Option("--follow", help="keep copying until Ctrl-C")] = False,
    data_dir: DataDir = None,
) -> None:
    """Copy the embedded event log into Kafka (CHARGEGRID_KAFKA_BOOTSTRAP), at least once."""
    from pipeline.kafka import run_mirror

    copied = run_mirror(_settings(data_dir), follow=follow)
    typer.echo(f"copied {copied} records to Kafka")


advise_app = typer.Typer(no_args_is_help=True, help="When to charge: cheapest plans, replays.")
app.add_typer(advise_app, name="advise")
_BE_SPOT = Path(__file__).resolve().parents[1] / "data" / "tariffs" / "be_dynamic_spot.json"
_SHARED_PRICES = Path("../shared/data/prices_entsoe_be")


class AdviseSource(StrEnum):
    dundee = "dundee"
    perth = "perth"


@advise_app.command("plan")
def advise_plan(
    arrival: Annotated[str, typer.Option(help="ISO 8601 with offset, e.g. 2019-03-30T19:00+01:00")],
    departure: Annotated[str, typer.Option(help="ISO 8601 with offset")],
    kwh: Annotated[float, typer.Option(help="energy the car needs (kWh)")],
    kw: Annotated[float, typer.Option(help="connector power (kW)")],
    tariff: Annotated[Path, typer.Option(help="tariff JSON", dir_okay=False)] = _BE_SPOT,
    prices: Annotated[
        list[Path] | None, typer.Option(help="ENTSO-E export(s) or folder (dynamic tariffs)")
    ] = None,
    free: Annotated[
        str | None, typer.Option(help="probability the connector is free, one per hour: 0.9,0.5")
    ] = None,
) -> None:
    """Immediate vs exact cheapest vs cheapest window (vs availability-aware) plans."""
    from models.advise.run import plan_command

    typer.echo(plan_command(arrival, departure, kwh, kw, tariff, prices or [], free))


@advise_app.command("evaluate")
def advise_evaluate(
    path: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[AdviseSource, typer.Option(help="whose session exports PATH are")],
    prices: Annotated[
        list[Path] | None, typer.Option(help="ENTSO-E exports or folder (default ../shared/...)")
    ] = None,
    tariff: Annotated[Path, typer.Option(help="dynamic tariff (margin)", dir_okay=False)] = (
        _BE_SPOT
    ),
    limit: Annotated[int | None, typer.Option(help="read at most this many rows")] = None,
) -> None:
    """Replay real sessions with real day-ahead prices: savings % and regret % per strategy."""
    from models.advise.evaluate import evaluate_files

    result = evaluate_files(source.value, path, prices or [_SHARED_PRICES], tariff, limit)
    typer.echo(result.table())


bap_app = typer.Typer(
    no_args_is_help=True,
    help="A Beckn BAP on the terminal: sign, send to the BPP, print its verified callbacks.",
)
app.add_typer(bap_app, name="bap")
BppUrl = Annotated[str | None, typer.Option(help="the BPP (default: HOST:BPP_PORT)")]
Tx = Annotated[str, typer.Option("--tx", help="transaction id (printed by `bap order`)")]
OrderId = Annotated[str, typer.Option("--order", help="order id (printed by `bap order`)")]


def _bap(data_dir: Path | None, bpp_url: str | None, step: object) -> None:
    """Run ``step(bap)`` with a connected BAP; print each callback it returns as JSON."""
    import asyncio

    from orders.bap import bap_session

    for line in asyncio.run(bap_session(_settings(data_dir), bpp_url, step)):  # type: ignore[arg-type]
        typer.echo(line)


@bap_app.command("search")
def bap_search(
    gps: Annotated[str, typer.Option(help="LAT,LON of the driver")],
    radius: Annotated[float, typer.Option(help="km")] = 5.0,
    connector: Annotated[str | None, typer.Option(help="CCS2, Type2, CHAdeMO …")] = None,
    bpp_url: BppUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Discover connectors around a point (on_search)."""
    _bap(data_dir, bpp_url, lambda d: d.search(gps, radius, connector))


@bap_app.command("order")
def bap_order(
    item: Annotated[str, typer.Argument(help="item id from `bap search` (e.g. CP1-01)")],
    quantity: Annotated[str, typer.Argument(help='"4 kWh", "30 min" or "100 INR"')],
    bpp_url: BppUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Quote, accept the terms and confirm an order (select → init → confirm)."""
    from orders.bap import place_order

    _bap(data_dir, bpp_url, lambda d: place_order(d, item, quantity))


@bap_app.command("step")
def bap_step(
    action: Annotated[str, typer.Argument(help="start|stop|status|track|cancel|rate|support")],
    tx: Tx,
    order: OrderId,
    bpp_url: BppUrl = None,
    data_dir: DataDir = None,
) -> None:
    """One step of an order placed earlier (an update, status, track, cancel, rating, support)."""
    from orders.bap import order_step

    _bap(data_dir, bpp_url, lambda d: order_step(d, action, tx, order))


@bap_app.command("demo")
def bap_demo(bpp_url: BppUrl = None, data_dir: DataDir = None) -> None:
    """A kWh, a minutes and a money order, start to final bill, against the running BPP."""
    import asyncio

    from chargegrid.clock import SystemClock
    from orders.bap import run_orders

    runs = asyncio.run(run_orders(_settings(data_dir), SystemClock(), bpp_url=bpp_url))
    for run in runs:
        typer.echo(
            f"{run.order_id} {run.quantity}: quoted {run.quoted}, billed "
            f"{run.settlement.get('billed')} refunded {run.settlement.get('refund')} "
            f"({run.live_updates} live updates)"
        )


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
        # one line, never re-wrapped, and no rich markup read into file names or values
        err.print(Text("error: ", style="red") + Text(str(exc)), soft_wrap=True, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
