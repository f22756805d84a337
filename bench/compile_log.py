"""Where a test run's compile time goes: a pytest plugin that logs JAX's
compile events with the test that caused them, and their summary.

  JAX_COMPILATION_CACHE_DIR=$(mktemp -d) NALSUPER_COMPILE_LOG=/tmp/compile.jsonl \\
      python -m pytest -q -n 2 -p bench.compile_log tests
  python -m bench.compile_log /tmp/compile.jsonl [--top 15] [--out bench/results]

The events are JAX's own (`jax.monitoring`): tracing to a jaxpr, lowering to
MLIR, XLA's backend compile, and persistent-cache hits with the compile time
they saved. Only the pytest processes are instrumented: the `main.py`
subprocesses that some tests start compile too, and that shows only in
their tests' `--durations`. With an empty cache folder the log shows what
a first run on a new machine pays; with a warm one, what is left.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
from typing import Any, Iterable

import jax

from bench import common

LOG_ENV = "NALSUPER_COMPILE_LOG"
DEFAULT_LOG = "compile_log.jsonl"
# jax.monitoring event name -> the short name the summary uses.
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
    "/jax/compilation_cache/cache_retrieval_time_sec": "cache_read",
    "/jax/compilation_cache/compile_time_saved_sec": "cache_saved",
}

# The listener is registered by pytest_configure only: importing this module logs nothing.
_current_test = {"id": "(outside a test)"}


def _listener(event: str, duration: float, **kwargs: Any) -> None:
  kind = EVENTS.get(event)
  if kind is None:
    return
  row = {"test": _current_test["id"], "pid": os.getpid(), "event": kind,
         "fun": str(kwargs.get("fun_name", "")), "s": round(duration, 4)}
  # One short O_APPEND write per event: the xdist workers share the file.
  with open(os.environ.get(LOG_ENV, DEFAULT_LOG), "a", encoding="utf-8") as f:
    f.write(json.dumps(row) + "\n")


def pytest_configure(config) -> None:
  """Loaded with `-p bench.compile_log` (in every xdist worker too)."""
  del config
  jax.monitoring.register_event_duration_secs_listener(_listener)


def pytest_runtest_protocol(item, nextitem):
  """Names the test whose compiles follow; pytest's own runner then runs it."""
  del nextitem
  _current_test["id"] = item.nodeid


def read(path: str | os.PathLike) -> list[dict[str, Any]]:
  rows = []
  for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{number}: not a JSON line of bench.compile_log ({e})") from e
  return rows


def summarise(rows: Iterable[dict[str, Any]], top: int = 15) -> dict[str, Any]:
  """Seconds per event kind; the tests and functions with the most XLA compile
  (and tracing) seconds; how many programs were compiled and read from the cache."""
  totals: dict[str, float] = collections.defaultdict(float)
  counts: collections.Counter = collections.Counter()
  per_test: dict[str, dict[str, float]] = collections.defaultdict(lambda: collections.defaultdict(float))
  per_fun: dict[str, float] = collections.defaultdict(float)
  for r in rows:
    totals[r["event"]] += r["s"]
    counts[r["event"]] += 1
    per_test[r["test"]][r["event"]] += r["s"]
    if r["event"] == "compile":
      per_fun[r["fun"]] += r["s"]
  by_cost = sorted(per_test.items(), key=lambda kv: -(kv[1]["compile"] + kv[1]["trace"]))
  return {
      "seconds": {k: round(v, 3) for k, v in sorted(totals.items())},
      "events": dict(sorted(counts.items())),
      "tests": [{"test": t, **{k: round(v, 1) for k, v in sorted(e.items())}}
                for t, e in by_cost[:top]],
      "functions": [{"function": f, "compile": round(s, 1)} for f, s in
                    sorted(per_fun.items(), key=lambda kv: -kv[1])[:top]],
  }


def markdown(summary: dict[str, Any]) -> str:
  s, n = summary["seconds"], summary["events"]
  lines = [f"XLA compile {s.get('compile', 0):.1f} s for {n.get('compile', 0)} programs, "
           f"tracing {s.get('trace', 0):.1f} s, lowering {s.get('lower', 0):.1f} s; "
           f"{n.get('cache_read', 0)} programs read from the persistent cache in "
           f"{s.get('cache_read', 0):.1f} s (their compiles took {s.get('cache_saved', 0):.1f} s)",
           "", "| test | compile s | trace s |", "|---|---|---|"]
  lines += [f"| {t['test']} | {t.get('compile', 0):.1f} | {t.get('trace', 0):.1f} |"
            for t in summary["tests"]]
  lines += ["", "| function | compile s |", "|---|---|"]
  lines += [f"| {f['function']} | {f['compile']:.1f} |" for f in summary["functions"]]
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("log", help=f"the JSON-lines log (${LOG_ENV}; default {DEFAULT_LOG})")
  p.add_argument("--top", type=int, default=15)
  p.add_argument("--out", default="", help="results folder for a JSON record (empty: none)")
  args = p.parse_args(argv)
  summary = summarise(read(args.log), args.top)
  print(markdown(summary))
  if args.out:
    print(f"wrote {common.record('compile_log', {'log': str(args.log), **summary}, args.out)}")


if __name__ == "__main__":
  main()
