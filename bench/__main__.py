"""Every performance figure of the product (P1-P7), each with its baseline measured in the same run.

    python -m bench [--quick] [--only P5,P7] [--out bench/results/latest.json] [--chart PATH] [--profile DIR]

Prints one table (figure, value, baseline, ratio, target, met?), writes the rows as JSON (``--out``) and draws
each figure against its target as a PNG (``--chart``; default: beside the JSON; needs matplotlib, the ``bench``
extra). Targets are ratios to a baseline measured in the same run of the same script, or absolute where the
product states one; the figures are what this machine measured, met or not.

``--quick``: smaller counts and shorter runs (a minute or two in all, noisier). ``--only``: some figures
(P1 and P2 come from one run). ``--profile DIR``: each figure again in a child process under ``py-spy record
--subprocesses``, a flame graph ``DIR/P<n>.svg`` per figure (needs py-spy, also in the ``bench`` extra).

What each figure measures: ``bench/figures.py`` and the scripts it calls (``bench/ingest.py`` for P1/P2,
``bench/fanout.py`` for P3/P5, ``bench/latency.py`` for P4, ``bench/replay.py`` for P6, ``bench/jwt_once.py``
for P7). Needs redis-server, and wrk for P1/P2 (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.figures import ALIASES, FIGURES, Row, Sizes
from router.runtime.embedded import find_redis_server

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def figures(text: str) -> list[str]:
        wanted = [f.strip().upper() for f in text.split(",") if f.strip()]
        unknown = [f for f in wanted if f not in FIGURES and f not in ALIASES]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown figure(s) {unknown}: P1-P7")
        return sorted(dict.fromkeys(ALIASES.get(f, f) for f in wanted), key=lambda f: int(f[1:]))

    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run: smaller counts, shorter loads")
    parser.add_argument("--only", type=figures, default=list(FIGURES), help="figures to run, e.g. P5,P7")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON result (default {DEFAULT_OUT})")
    parser.add_argument("--chart", type=Path, help="PNG chart (default: the JSON's path with .png)")
    parser.add_argument("--no-chart", action="store_true", help="draw no chart")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="a py-spy flame graph per figure into DIR")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        out = subprocess.run([find_redis_server(), "--version"], capture_output=True, text=True).stdout
        redis_version = next((w[2:] for w in out.split() if w.startswith("v=")), "")
    except (OSError, RuntimeError):
        redis_version = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis": redis_version,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run_figures(wanted: Sequence[str], sizes: Sizes) -> tuple[list[Row], dict[str, str]]:
    rows: list[Row] = []
    failed: dict[str, str] = {}
    for figure in wanted:
        print(f"== {figure}{' and P2' if figure == 'P1' else ''} ...", flush=True)
        started = time.monotonic()
        try:
            rows += FIGURES[figure](sizes)
        except Exception as exc:
            traceback.print_exc()
            failed[figure] = f"{type(exc).__name__}: {exc}"
        print(f"   {time.monotonic() - started:.0f} s", flush=True)
    return rows, failed


def _num(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def _ratio(row: Row) -> str:
    return "-" if row.ratio is None else f"{row.ratio:.2f}"


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: ""}[row.met]


def table(rows: Sequence[Row], failed: dict[str, str]) -> str:
    head = ("figure", "value", "baseline", "ratio", "target", "met?")
    lines = [
        (f"{r.figure} {r.name}", _num(r.value, r.unit), _num(r.baseline), _ratio(r), r.target, _met(r)) for r in rows
    ]
    lines += [(f"{f} failed: {why}", "-", "-", "-", "-", "NO") for f, why in failed.items()]
    widths = [max(len(line[i]) for line in [head, *lines]) for i in range(len(head))]

    def fmt(line: Sequence[str]) -> str:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *map(fmt, lines)])


def notes(rows: Sequence[Row]) -> str:
    return "\n".join(f"  {r.figure} {r.name}: {r.note}" for r in rows if r.note)


def as_json(rows: Sequence[Row], failed: dict[str, str], args: argparse.Namespace, about: dict[str, Any]) -> str:
    def row(r: Row) -> dict[str, Any]:
        return {
            "figure": r.figure,
            "name": r.name,
            "value": r.value,
            "unit": r.unit,
            "baseline": r.baseline,
            "baseline_name": r.baseline_name,
            "ratio": r.ratio,
            "target": r.target,
            "goal": r.goal,
            "op": r.op,
            "on": r.on,
            "met": r.met,
            "note": r.note,
        }

    result = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": about,
        "rows": [row(r) for r in rows],
        "failed": failed,
    }
    return json.dumps(result, indent=2) + "\n"


def chart(rows: Sequence[Row], path: Path, about: dict[str, Any]) -> None:
    """Each targeted figure as a share of its target (log scale: 1 is the target, right of it is met)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.share is not None]
    fig, ax = plt.subplots(figsize=(12, 0.42 * len(shown) + 1.4))
    shares = [r.share or 0.0 for r in shown]
    y = list(range(len(shown)))[::-1]
    ax.barh(y, shares, color=["#2e8b57" if r.met else "#c0392b" for r in shown])
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(y, [f"{r.figure} {r.name}" for r in shown], fontsize=8)
    for row, at, share in zip(shown, y, shares, strict=True):
        ax.text(share * 1.05, at, f"{_measured(row)} (target {row.target})", va="center", fontsize=7)
    ax.set_xlabel("measured / target (1 = the target; right of the line: met; log scale)")
    title = f"{about['cpus']} x {about['cpu_model']}, Python {about['python']}, redis {about['redis']}"
    ax.set_title(title, fontsize=9)
    ax.set_xlim(min([*shares, 0.5]) / 1.5, max([*shares, 1.0]) * 12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _measured(row: Row) -> str:
    if row.on == "ratio":
        return f"{row.ratio:.2f} x baseline" if row.ratio is not None else "-"
    return _num(row.value, row.unit)


def profile(args: argparse.Namespace) -> int:
    """Each figure again in a child process under py-spy (its subprocesses too): DIR/P<n>.svg."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("--profile needs py-spy: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    args.profile.mkdir(parents=True, exist_ok=True)
    status = 0
    for figure in args.only:
        svg = args.profile / f"{figure}.svg"
        child = [
            sys.executable,
            "-m",
            "bench",
            "--only",
            figure,
            "--no-chart",
            "--out",
            str(args.profile / f"{figure}.json"),
        ]
        child += ["--quick"] if args.quick else []
        cmd = [spy, "record", "--subprocesses", "--rate", "100", "--output", str(svg), "--", *child]
        print(f"== {figure} under py-spy -> {svg}", flush=True)
        done = subprocess.run(cmd, cwd=ROOT)
        status = status or done.returncode
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile is not None:
        return profile(args)
    about = machine()
    sizes = Sizes.quick() if args.quick else Sizes()
    print(
        f"{about['cpus']} x {about['cpu_model']}, Python {about['python']}, redis {about['redis']}, "
        f"load average {about['load_average_1m']}",
        flush=True,
    )
    rows, failed = run_figures(args.only, sizes)
    about["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print()
    print(table(rows, failed))
    if notes(rows):
        print(notes(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(as_json(rows, failed, args, about))
    print(f"\nresults: {args.out}")
    if not args.no_chart:
        path = args.chart or args.out.with_suffix(".png")
        try:
            chart(rows, path, about)
            print(f"chart: {path}")
        except ImportError:
            print("no chart: matplotlib is not installed (pip install -e '.[bench]')", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
