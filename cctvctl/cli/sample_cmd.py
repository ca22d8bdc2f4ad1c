"""`cctvctl sample`: write deterministic synthetic counts (a seed gives the same file every time)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from cctvctl.cli import complete
from cctvctl.cli.app import app
from cctvctl.cli.options import QuietOpt, SinceOpt, TzOpt, UntilOpt
from cctvctl.errors import UsageError


@app.command("sample")
def sample_command(
    since: SinceOpt = None,
    until: UntilOpt = None,
    tz: TzOpt = None,
    cameras: Annotated[int, typer.Option(help="How many cameras.")] = 3,
    interval: Annotated[int, typer.Option(help="Interval length in minutes (must divide a day).")] = 5,
    layout: Annotated[str, typer.Option(help="original (camera,start_date,end_date,people,vehicle) or classes (camera,start_time,n_person,n_car,…).", autocompletion=complete.LAYOUTS)] = "original",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same rows.")] = 42,
    events: Annotated[int, typer.Option(help="Surges and drops to inject, in the last third of the range (0: none).")] = 4,
    events_json: Annotated[Optional[str], typer.Option(metavar="FILE", help="Also write the injected events as JSON (camera, start, end, kind, metric, factor).")] = None,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="Where to write the CSV (- for standard output).")] = "-",
    quiet: QuietOpt = False,
) -> None:
    """Write synthetic counts: daily and weekly rhythm, weekends, injected surges and drops.

    Timestamps are naive local times in --tz (import them with the same --tz). The default
    range is August 2021. The injected events are listed on stderr (and with --events-json).

    Example:
        cctvctl sample --since 2021-08-01 --until 2021-08-31 --tz Asia/Seoul -o aug.csv
        cctvctl sample --layout classes --cameras 5 --interval 15 | cctvctl import - --interval 15
    """
    from cctvctl.zone import resolve_tz
    from cctvctl.periods import local_iso, parse_date
    from cctvctl.sample import LAYOUTS, SampleSpec, generate

    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}")
    if interval <= 0:
        raise UsageError("--interval must be a positive number of minutes")
    zone = resolve_tz(tz)
    first = parse_date(since or "2021-08-01", "--since")
    last = parse_date(until or "2021-08-31", "--until")
    spec = SampleSpec(first, last, zone, cameras=cameras, interval=interval * 60, seed=seed,
                      events=events)
    data = generate(spec)
    try:
        written = data.write(output, layout)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    if events_json:
        from cctvctl import safefile

        with safefile.replace_file(events_json, what="the events", fix="choose another file with "
                                   "--events-json") as fh:
            json.dump([e.as_dict(zone) for e in data.events], fh, indent=2)
            fh.write("\n")
    if not quiet:
        where = "standard output" if output == "-" else output
        sys.stderr.write(f"wrote {written:,} rows ({len(data.cameras)} cameras, {first} … {last}, "
                         f"{zone.key}, {interval}-minute intervals, {layout} layout) to {where}\n")
        for e in data.events:
            sys.stderr.write(f"  event: {local_iso(e.start_utc, zone)} – {local_iso(e.end_utc, zone)} "
                             f"{e.camera} {e.metric} {e.kind} ×{e.factor:g}: {e.description}\n")
