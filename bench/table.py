"""Render bench/run.sh's raw results as one markdown table.

Usage: python3 bench/table.py RESULTS_DIR
"CPU µs/req" is the server's CPU time per response, which holds up better
than req/s when other work shares the machine. Reads RESULTS_DIR/results.jsonl (one loadgen --json line per server and
connection count) and RESULTS_DIR/servers.jsonl (idle/peak RSS, or why a
server was skipped). Ratios are req/s of chatdeploy (and of the bare
receiver) divided by the row's req/s at the same connection count.
"""

import json
import sys
from pathlib import Path

LABELS = {
    "chatdeploy": "chatdeploy receiver",
    "bare": "bare receiver (ceiling)",
    "bolt-js": "Bolt for JavaScript",
    "bolt-py": "Bolt for Python",
}


def load(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def mb(kb) -> str:
    return f"{kb / 1024:.1f}" if kb is not None else "–"


def ratio(num, den) -> str:
    return f"{num / den:.2f}x" if num and den else "–"


def main() -> None:
    out = Path(sys.argv[1])
    results = load(out / "results.jsonl")
    servers = load(out / "servers.jsonl")
    rss = {s["server"]: s for s in servers}
    rps = {(r["server"], r["connections"]): r["rps"] for r in results}

    print(
        "| server | conns | req/s | p50 µs | p99 µs | max µs | non-200 | errors"
        " | server CPU | CPU µs/req | loadgen CPU | idle RSS MB | peak RSS MB | chatdeploy ÷ row | bare ÷ row |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for s in servers:
        name = s["server"]
        label = LABELS.get(name, name)
        if "skipped" in s:
            print(f"| {label} | – | {s['skipped']} | | | | | | | | | | | | |")
            continue
        for r in (r for r in results if r["server"] == name):
            c = r["connections"]
            print(
                f"| {label} | {c} | {r['rps']:,.0f} | {r['p50_us']} | {r['p99_us']}"
                f" | {r['max_us']} | {r['non200']} | {r['errors']} | {r['server_cpu_pct']}%"
                f" | {r.get('server_cpu_us_per_req', '–')} | {r.get('loadgen_cpu_pct', '–')}%"
                f" | {mb(s.get('idle_rss_kb'))} | {mb(s.get('peak_rss_kb'))}"
                f" | {ratio(rps.get(('chatdeploy', c)), r['rps'])}"
                f" | {ratio(rps.get(('bare', c)), r['rps'])} |"
            )


if __name__ == "__main__":
    main()
