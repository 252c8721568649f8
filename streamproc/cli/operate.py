"""Operating commands: `streamproc lag` (per-partition lag, stalled partitions) and `streamproc kibana import`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from streamproc.config import load_settings
from streamproc.errors import UserError

console = Console()


def lag(
    window: Annotated[
        float, typer.Option(help="seconds to watch partitions with lag; one whose offset never moves is stalled")
    ] = 10.0,
) -> None:
    """Lag of the consumer group per partition; exit 1 when a partition with lag is not moving."""
    from streamproc.health import check_kafka
    from streamproc.worker.lag import LagMonitor
    from streamproc.worker.stall import RECOVERY, watch_group

    settings = load_settings()
    check_kafka(settings)
    monitor = LagMonitor(settings, timeout=10.0)
    try:
        progress, stuck = watch_group(monitor, window)
    finally:
        monitor.close()
    stalled = {s.partition for s in stuck}
    table = Table(
        "partition", "committed", "end", "lag", "state", title=f"{settings.consumer_group} on {settings.topic_raw}"
    )
    for partition, end in sorted(progress.end.items()):
        committed = progress.committed.get(partition, 0)
        state = "STALLED" if partition in stalled else ("moving" if end > committed else "caught up")
        table.add_row(str(partition), str(committed), str(end), str(end - committed), state)
    console.print(table)
    console.print(f"total lag {progress.lag}", markup=False)
    if stuck:
        console.print(f"{len(stuck)} partition(s) with lag did not move in {window:.0f}s: {RECOVERY}", markup=False)
        raise typer.Exit(1)


kibana_app = typer.Typer(
    help="Kibana: the saved objects of the task file (data view, searches, charts, dashboard).", no_args_is_help=True
)


@kibana_app.command("import")
def kibana_import(
    url: Annotated[str, typer.Option(envvar="STREAMPROC_KIBANA_URL", help="Kibana base URL")] = "http://127.0.0.1:5601",
    api_key: Annotated[
        str | None, typer.Option(envvar="STREAMPROC_KIBANA_API_KEY", help="API key (base64 id:key)", show_default=False)
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="user name; the password is asked for or read from STREAMPROC_KIBANA_PASSWORD")
    ] = None,
    space: Annotated[str | None, typer.Option(help="Kibana space id (default space when omitted)")] = None,
    file: Annotated[
        Path | None, typer.Option(help="saved objects NDJSON (default: generated from the task file)")
    ] = None,
    ca_certs: Annotated[Path | None, typer.Option(help="CA bundle for an https Kibana")] = None,
) -> None:
    """Import the saved objects of the task file into Kibana (existing objects with the same ids are overwritten)."""
    from streamproc.kibana.upload import KibanaAuth, import_saved_objects

    if file is not None and not file.is_file():
        raise UserError(f"no such file: {file}")
    objects = file.read_bytes() if file is not None else _generated_objects()
    password = None
    if user is not None and api_key is None:
        given = os.environ.get("STREAMPROC_KIBANA_PASSWORD")
        password = SecretStr(given if given is not None else typer.prompt(f"password for {user}", hide_input=True))
    auth = KibanaAuth(SecretStr(api_key) if api_key else None, user, password)
    name = file.name if file is not None else "saved-objects.ndjson"
    console.print(import_saved_objects(url, auth, objects, space, ca_certs, name=name), markup=False)


@kibana_app.command("objects")
def kibana_objects(
    out: Annotated[Path, typer.Option("--out", help="where the NDJSON goes")] = Path("saved-objects.ndjson"),
) -> None:
    """Write the saved objects of the task file as NDJSON (what `kibana import` posts)."""
    out.write_bytes(_generated_objects())
    console.print(f"written: {out}", markup=False)


def _generated_objects() -> bytes:
    from streamproc.kibana.objects import ndjson, saved_objects

    settings = load_settings()
    return ndjson(saved_objects(settings.tasks, settings.es_index))


def register(app: typer.Typer) -> None:
    """Add the operating commands to the `streamproc` app."""
    app.command("lag")(lag)
    app.add_typer(kibana_app, name="kibana")
