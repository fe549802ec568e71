"""Options and arguments that several commands share, defined once.

Each is an ``Annotated`` type a command's signature uses as is, so the same option
reads and behaves the same everywhere (``--json``, ``--header``, ``--metric``...).
"""

from __future__ import annotations

from typing import Annotated

import typer

#: A change a command acts on: without one, the open change, when no other is open.
Ref = Annotated[
    str | None,
    typer.Argument(
        metavar="ID", help="Change id or slug (default: the open change, when only one is)."
    ),
]
#: A change a command reads.
ShowRef = Annotated[
    str | None,
    typer.Argument(
        metavar="ID", help="Change id or slug (default: the newest open change, else the newest)."
    ),
]
#: The change whose note to render.
RenderRef = Annotated[
    str | None,
    typer.Argument(metavar="ID", help="Change id or slug (default: every shipped change)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the change document as JSON.")]
ListJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Headers = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        metavar="'NAME: VALUE'",
        help="'Name: value' sent with every HTTP probe (repeatable); secret values are "
        "redacted when stored, so give them again, a Prometheus probe's too (or use "
        "${ENV_VAR}).",
    ),
]
FailOnRegression = Annotated[
    bool,
    typer.Option(
        "--fail-on-regression",
        help="Exit 3 (after recording everything) when a metric regressed or a checkable "
        "--expect clause was not met.",
    ),
]
Metrics = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        metavar="NAME=VALUE[UNIT]",
        help="Manual figure NAME=VALUE[UNIT], e.g. p95_ms=120 (repeatable).",
    ),
]
Limit = Annotated[int | None, typer.Option(metavar="N", help="Show at most this many.")]

#: The filters ``list`` and ``search`` share.
Service = Annotated[str | None, typer.Option(metavar="NAME", help="Only this service.")]
Owner = Annotated[str | None, typer.Option(metavar="NAME", help="Only this owner.")]
TagFilter = Annotated[str | None, typer.Option(metavar="TAG", help="Only with this tag.")]
Since = Annotated[
    str | None, typer.Option(metavar="DATE", help="Shipped (or started) on or after.")
]

Prometheus = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="The Prometheus server --prom probes ask [default: $CHANGENOTE_PROMETHEUS_URL, "
        "else prometheus_url in the config].",
    ),
]

#: Benchmark results files as probes (baseline, measure, ship).
Results = Annotated[
    list[str] | None,
    typer.Option(
        "--results",
        metavar="FILE",
        help="A benchmark results file (hyperfine, pyperf, pytest-benchmark JSON; locust or "
        "k6 summaries): each benchmark in it is a probe, read, not run (repeatable). Once a "
        "baseline read files, measure and ship need this run's.",
    ),
]
ResultsFormat = Annotated[
    str | None,
    typer.Option(
        "--results-format",
        metavar="FORMAT",
        help="The --results files' format: hyperfine, pyperf, pytest-benchmark, locust or k6 "
        "[default: found from the content].",
    ),
]
Match = Annotated[
    list[str] | None,
    typer.Option(
        "--match",
        metavar="OLD=NEW",
        help="Compare the baseline's benchmark OLD with this run's NEW (renamed; repeatable).",
    ),
]
