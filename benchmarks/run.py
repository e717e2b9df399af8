"""Run every ``benchmarks/bench_*.py`` and write one JSON + Markdown report.

Each benchmark runs in its own subprocess (a crash or an out-of-memory in one is reported and
the suite goes on; peak memory is per benchmark) and returns a dict of measured figures, each
speed figure with the reference measured in the same run and the ratio.

    python benchmarks/run.py --out benchmarks/out [--quick] [--only acoustic,index] [--results-md benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
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


def to_markdown(report: dict) -> str:
    lines = ["# SAPPHIRE benchmark results", "",
             f"Measured {report['date']} with `python benchmarks/run.py{' --quick' if report['quick'] else ''}` "
             f"(`make bench`), {report['total_seconds']:.0f} s in all.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in report["machine"].items()]
    for name, res in report["benchmarks"].items():
        lines += ["", f"## {name.removeprefix('bench_')}", ""]
        if "error" in res:
            lines.append(f"**failed**: {res['error']}")
            continue
        lines.append(f"{res['seconds']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB")
        lines += ["", "| figure | value |", "|---|---|"]
        rows: list[tuple[str, str]] = []
        _rows("", res["result"], rows)
        lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument("--quick", action="store_true", help="smaller inputs (smoke test)")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. acoustic,index")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per benchmark")
    parser.add_argument("--results-md", type=Path, default=None, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    t0 = time.perf_counter()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick, "machine": machine(),
              "benchmarks": {}}
    for name in discover(only):
        print(f"running {name} ...", flush=True)
        res = run_one(name, args.quick, args.timeout)
        report["benchmarks"][name] = res
        status = f"FAILED: {res['error']}" if "error" in res else f"done in {res['seconds']:.1f}s"
        print(f"  {status}", flush=True)
    report["total_seconds"] = time.perf_counter() - t0
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
