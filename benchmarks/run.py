"""Run every ``benchmarks/bench_*.py`` and write one JSON + Markdown report.

Each benchmark runs in its own subprocess (a crash or an out-of-memory in one is reported and
the suite goes on; peak memory is per benchmark) and returns a dict of measured figures, each
speed figure with the reference measured in the same run and the ratio.

    python benchmarks/run.py --out benchmarks/out [--quick] [--only acoustic,index] [--results-md benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent

RUNNER = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
import importlib
mod = importlib.import_module({name!r})
t0 = time.perf_counter()
result = mod.run(quick={quick!r})
print("\\n@@RESULT@@" + json.dumps({{"result": result, "seconds": time.perf_counter() - t0,
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}, default=str))
"""


def machine() -> dict:
    """Where the figures were measured."""
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gb"] = round(int(mem.split()[1]) / 1024**2, 1)
    except (OSError, StopIteration):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


def discover(only: set[str] | None) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if n.removeprefix("bench_") in only]
    return names


def run_one(name: str, quick: bool, timeout: float) -> dict:
    code = RUNNER.format(here=str(HERE), name=name, quick=quick)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s", "seconds": time.perf_counter() - t0}
    if "@@RESULT@@" not in proc.stdout:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail), "seconds": time.perf_counter() - t0}
    return json.loads(proc.stdout.rsplit("@@RESULT@@", 1)[1])


def _rows(prefix: str, value, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _rows(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, float):
        out.append((prefix, f"{value:.4g}"))
    elif isinstance(value, list) and len(value) > 8:
        out.append((prefix, f"[{len(value)} values]"))
    else:
        out.append((prefix, json.dumps(value) if not isinstance(value, str) else value))


def growth_exponent(sizes: list[float], costs: list[float]) -> float | None:
    """Least-squares slope of log(cost) on log(size): cost grows as size**k (1 = linear)."""
    pairs = [(math.log(s), math.log(c)) for s, c in zip(sizes, costs) if s and c and s > 0 and c > 0]
    if len(pairs) < 2 or len({x for x, _ in pairs}) < 2:
        return None
    mx = sum(x for x, _ in pairs) / len(pairs)
    my = sum(y for _, y in pairs) / len(pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / sum((x - mx) ** 2 for x, _ in pairs)


def scaling_rows(report: dict) -> list[dict]:
    """Every benchmark's ``scaling`` entries (cost at three or more input sizes), with the fitted exponent."""
    rows = []
    for name, res in report["benchmarks"].items():
        for entry in (res.get("result") or {}).get("scaling", []) if "error" not in res else []:
            row = {"benchmark": name.removeprefix("bench_"), **entry,
                   "exponent": growth_exponent(entry["sizes"], entry["seconds"])}
            if entry.get("peak_mb"):
                row["memory_exponent"] = growth_exponent(entry["sizes"], entry["peak_mb"])
            rows.append(row)
    return rows


def _scaling_markdown(rows: list[dict]) -> list[str]:
    def num(v):
        return "-" if v is None else f"{v:.3g}"

    lines = ["", "## How each cost grows with input size", "",
             "`k` is the least-squares slope of log(cost) on log(size): cost ~ size^k, so k <= 1 is linear or "
             "better. Costs are wall seconds unless the row says otherwise.", "",
             "| benchmark | cost | sizes | seconds | k | peak MB (k) |", "|---|---|---|---|---|---|"]
    for r in rows:
        sizes = ", ".join(f"{s:g}" for s in r["sizes"]) + f" {r['unit']}"
        secs = ", ".join(num(v) for v in r["seconds"])
        mem = ", ".join(num(v) for v in r["peak_mb"]) + f" ({num(r['memory_exponent'])})" if r.get("peak_mb") else "-"
        lines.append(f"| {r['benchmark']} | {r['what']} | {sizes} | {secs} | {num(r['exponent'])} | {mem} |")
    return lines


def to_markdown(report: dict) -> str:
    lines = ["# SAPPHIRE benchmark results", "",
             f"Measured {report['date']} with `python benchmarks/run.py{' --quick' if report['quick'] else ''}` "
             f"(`make bench`), {report['total_seconds']:.0f} s in all.", ""]
    if report.get("note"):
        lines += [f"> {report['note']}", ""]
    lines += ["## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in report["machine"].items()]
    if report.get("scaling"):
        lines += _scaling_markdown(report["scaling"])
    for name, res in report["benchmarks"].items():
        lines += ["", f"## {name.removeprefix('bench_')}", ""]
        if "error" in res:
            lines.append(f"**failed**: {res['error']}")
            continue
        lines.append(f"{res['seconds']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB")
        lines += ["", "| figure | value |", "|---|---|"]
        rows: list[tuple[str, str]] = []
        _rows("", {k: v for k, v in res["result"].items() if k != "scaling"}, rows)
        lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--quick", action="store_true", help="smaller inputs (smoke test)")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. acoustic,index")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per benchmark")
    parser.add_argument("--results-md", type=Path, default=None, help="also write the Markdown report here")
    parser.add_argument("--note", default="", help="a line for the report's head (how and where it was run)")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    t0 = time.perf_counter()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick, "machine": machine(),
              "benchmarks": {}, "note": args.note}
    # Other work on the machine slows every figure down: the load average says whether it was quiet.
    report["machine"]["load_average_1min_at_start"] = round(os.getloadavg()[0], 2)
    for name in discover(only):
        print(f"running {name} ...", flush=True)
        res = run_one(name, args.quick, args.timeout)
        report["benchmarks"][name] = res
        status = f"FAILED: {res['error']}" if "error" in res else f"done in {res['seconds']:.1f}s"
        print(f"  {status}", flush=True)
    report["total_seconds"] = time.perf_counter() - t0
    report["machine"]["load_average_15min_at_end"] = round(os.getloadavg()[2], 2)
    report["scaling"] = scaling_rows(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2, default=str))
    md = to_markdown(report)
    (args.out / "RESULTS.md").write_text(md)
    if args.results_md:
        args.results_md.write_text(md)
    print(f"report: {args.out / 'RESULTS.md'}")
    return 0 if all("error" not in r for r in report["benchmarks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
