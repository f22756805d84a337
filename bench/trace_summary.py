"""Where a traced train step's time goes: `bench.train_step --profile_dir` output, summarised.

  python -m bench.trace_summary PROFILE_DIR/small-float32-128-b8-auto [--top 15]

Reads the Perfetto trace (`*.trace.json.gz`) that `jax.profiler` wrote for
the timed steps and prints, per kind of XLA thunk (name without its
number), the summed time on the executing threads (the XLA CPU client's
Eigen pool; a GPU's streams), the share of the traced steps during which
0, 1 or 2+ of those threads were busy, and the thunks that ran while only
one thread was busy: on a 2-core CPU that is where a core stood idle. With
the compiled program's text (`step.hlo.txt`, written beside the trace by
`bench.train_step --profile_dir`), each thunk is named by the model code
it came from (the HLO's `op_name` metadata).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import pathlib
import re

# Trace events that are bookkeeping around thunks, not thunks.
_WRAPPERS = re.compile(r"ThreadpoolListener|ThunkExecutor|end: |SlinkyThreadPool|^\$")
STEP_EVENT = "time_steps"  # bench.train_step's timed loop: the window summarised


def _kind(name: str) -> str:
  return re.sub(r"\.\d+$", "", name)


def _op_names(hlo: str) -> dict[str, str]:
  """Fusion/thunk name -> the op_name of the first instruction it holds."""
  bodies = {m.group(1): m.group(2) for m in
            re.finditer(r"^%?([\w.\-]+) [^\n]*\{\n(.*?)\n\}", hlo, re.M | re.S)}
  names = {}
  for m in re.finditer(r"^\s*(?:ROOT )?%?([\w.\-]+) = ([^\n]*)$", hlo, re.M):
    calls = re.search(r"calls=%?([\w.\-]+)", m.group(2))
    op = (re.search(r'op_name="([^"]+)"', bodies.get(calls.group(1), "")) if calls else None
          ) or re.search(r'op_name="([^"]+)"', m.group(2))
    if op:
      names[m.group(1)] = op.group(1)
  return names


def summarize(folder: str | pathlib.Path, top: int = 15) -> dict:
  """The summary of the one trace under `folder` (see the module docstring)."""
  folder = pathlib.Path(folder)
  # bench.train_step's flat copy, else the one the profiler nested below.
  traces = sorted(folder.glob("*.trace.json.gz")) or sorted(folder.rglob("*.trace.json.gz"))
  if len(traces) != 1:
    raise SystemExit(f"{folder}: expected one *.trace.json.gz in or below it, found "
                     f"{len(traces)}")
  events = json.loads(gzip.open(traces[0]).read())["traceEvents"]
  threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
  spans = [e for e in events if e.get("ph") == "X"]
  window = [e for e in spans if e["name"].endswith(STEP_EVENT)]
  if not window:
    raise SystemExit(f"{traces[0]}: no '{STEP_EVENT}' event; was it written by "
                     "bench.train_step --profile_dir?")
  start = min(e["ts"] for e in window)
  end = max(e["ts"] + e["dur"] for e in window)
  workers = {k for k, v in threads.items() if "Eigen" in v or "Stream" in v}
  thunks = [e for e in spans if (e["pid"], e["tid"]) in workers
            and start <= e["ts"] < end and not _WRAPPERS.search(e["name"])]
  # Sweep over the thunks' starts and ends: how many run at once, and which
  # one runs alone.
  edges = sorted([(e["ts"], 1, i) for i, e in enumerate(thunks)]
                 + [(e["ts"] + e["dur"], -1, i) for i, e in enumerate(thunks)])
  running: set[int] = set()
  busy = collections.Counter()
  alone = collections.Counter()
  last = start
  for t, change, i in edges:
    busy[min(len(running), 2)] += t - last
    if len(running) == 1:
      alone[thunks[next(iter(running))]["name"]] += t - last
    last = t
    (running.add if change > 0 else running.discard)(i)
  busy[0] += max(0, end - last)
  total = collections.Counter()
  for e in thunks:
    total[_kind(e["name"])] += e["dur"]
  hlo = folder / "step.hlo.txt"
  op_names = _op_names(hlo.read_text()) if hlo.exists() else {}
  span = end - start
  return {
      "trace": str(traces[0]), "traced_ms": span / 1e3,
      "threads_busy_share": {str(k): busy[k] / span for k in sorted(busy)},
      "thread_ms_by_kind": {k: v / 1e3 for k, v in total.most_common(top)},
      "alone_ms": sum(alone.values()) / 1e3,
      "alone_top": [{"thunk": k, "alone_ms": v / 1e3, "op_name": op_names.get(k, "")}
                    for k, v in alone.most_common(top) if v > 0],
  }


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("folder", help="one row's folder under bench.train_step's --profile_dir")
  p.add_argument("--top", type=int, default=15)
  args = p.parse_args(argv)
  s = summarize(args.folder, args.top)
  print(f"{s['trace']}: {s['traced_ms']:.0f} ms traced")
  print("threads busy: " + ", ".join(f"{k}{'+' if k == '2' else ''}: {100 * v:.1f}%"
                                     for k, v in s["threads_busy_share"].items()))
  print("\nthread ms by thunk kind:")
  for k, v in s["thread_ms_by_kind"].items():
    print(f"  {v:9.1f}  {k}")
  print(f"\nwhile only one thread was busy ({s['alone_ms']:.0f} ms), the thunk running:")
  for row in s["alone_top"]:
    print(f"  {row['alone_ms']:8.1f}  {row['thunk']:28s} {row['op_name'][-90:]}")
  return s


if __name__ == "__main__":
  main()
