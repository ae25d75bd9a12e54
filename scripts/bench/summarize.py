"""Summarises target/bench-results into the figures and the P1-P11 budget of BENCHMARKS.md."""
import json
import os
import re
import sys

out = sys.argv[1]


def jsonl(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]


def text(name):
    path = os.path.join(out, name)
    return open(path).read() if os.path.exists(path) else ""


budget = []


def check(pid, measure, value, target, ok):
    budget.append((pid, measure, value, target, "PASS" if ok else "FAIL"))


rounds = {}
for v in jsonl("verify.jsonl"):
    rounds.setdefault((v["impl"], v["bytes"]), []).append(v["ops_per_cpu_second"])
# Each round's figure (ours and Node's are already medians of 3 runs); the median over rounds.
verify = {k: sorted(v)[len(v) // 2] for k, v in rounds.items()}
print("verification, ops per CPU-second (median over interleaved rounds):")
for size in (1024, 16384, 262144):
    rust, node, ceil = (verify.get((i, size)) for i in ("rust", "node-sdk", "openssl-ceiling"))
    if rust and node and ceil:
        print(f"  {size:>7} B  rust {rust:>9,}  node SDK {node:>9,}  openssl {ceil:>9,}  rust/node {rust/node:5.2f}x  rust/ceiling {100*rust/ceil:5.1f}%")
        for impl in ("rust", "node-sdk", "openssl-ceiling"):
            print(f"            {impl} per round: {rounds[(impl, size)]}")
for pid, size, ratio_t, ceil_t in (("P1", 1024, 6.0, 0.85), ("P2", 16384, 1.6, 0.90)):
    rust, node, ceil = (verify.get((i, size)) for i in ("rust", "node-sdk", "openssl-ceiling"))
    if rust and node and ceil:
        check(pid, f"verification {size // 1024} KiB", f"{rust/node:.2f}x node, {100*rust/ceil:.0f}% of ceiling",
              f">= {ratio_t}x, >= {int(ceil_t*100)}%", rust / node >= ratio_t and rust / ceil >= ceil_t)

crit = text("criterion.txt")
m = re.search(r"ingest_path/1024\s+time:\s+\[([\d.]+) (\w+) ([\d.]+) (\w+)", crit)
if m:
    value, unit = float(m.group(3)), m.group(4)
    us = value / 1000 if unit == "ns" else value * (1000 if unit == "ms" else 1)
    check("P3", "in-process ingest path, 1 KiB", f"{us:.2f} us median", "<= 10 us", us <= 10)

sender = text("sender.txt")
m1 = re.search(r"all in flight\s*:\s*median\s+([\d.]+) ms = ([\d.]+) x", sender)
m2 = re.search(r"speed-up over sequential\s*:\s*([\d.]+) x", sender)
m3 = re.search(r"client CPU per send[^:]*:\s*([\d.]+) us", sender)
if m1 and m2:
    ratio, speedup = float(m1.group(2)), float(m2.group(1))
    cpu = float(m3.group(1)) if m3 else float("nan")
    check("P4", "sender batch of 10 at 50 ms", f"{ratio:.2f} RTT, {speedup:.1f}x sequential, {cpu:.1f} us CPU/send",
          "<= 1.5 RTT, >= 6.5x, <= 25 us", ratio <= 1.5 and speedup >= 6.5 and cpu <= 25)
m4 = re.search(r"at 0 ms latency[^:]*: sender ([\d.]+) us, bare HTTPS client ([\d.]+) us, bare reqwest ([\d.]+) us", sender)
if m4:
    print(f"sender CPU per send at 0 ms (the anchors' condition): pipeline {m4.group(1)} us, "
          f"bare HTTPS client {m4.group(2)} us, bare reqwest {m4.group(3)} us")

paced = text("sender-paced.txt")
rows = {m.group(1).strip(): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^\s+(with[^:]*?)\s*: .*?\(([\d.]+) % of the limit\).*?\(([\d.]+) % of requests\)", paced, re.M)}
mine = [rows[k] for k in ("with the app's pace", "with the app's pace, 4 environments") if k in rows]
if len(mine) == 2:
    steady, share = min(r[0] for r in mine), max(r[1] for r in mine)
    check("P9", "sender at an app's 25 msg/s limit, 1 and 4 environments", f"steady {steady:.0f} % of the limit, {share:.1f} % answered 429",
          ">= 90 %, < 5 %", steady >= 90 and share < 5)

cold = {c["target"]: c["median_ms"] for c in jsonl("coldstart.jsonl")}
print("cold start to first 'next', median ms:", cold)
if all(k in cold for k in ("hello-world", "webhook-ingest", "sender", "node-sinch-sdk")):
    worst = max(cold["webhook-ingest"], cold["sender"])
    check("P5", "cold start", f"{worst/cold['hello-world']:.2f}x hello world, node SDK {cold['node-sinch-sdk']/worst:.1f}x slower",
          "<= 3x hello, >= 10x faster than node", worst <= 3 * cold["hello-world"] and cold["node-sinch-sdk"] >= 10 * worst)

foot = jsonl("footprint.jsonl")
print("footprint:", foot)
if foot:
    peak = max(f["peak_rss_mb"] for f in foot)
    check("P6", "peak RSS (1,000 webhook, 300 sender invocations)", f"{peak:.1f} MB (max of both)", "<= 30 MB", peak <= 30)
    fetches = [f["secret_fetches"] for f in foot]
    check("P8", "Secrets Manager calls under load", f"{fetches} (per function, one service, run < TTL)", "exactly 1", all(f == 1 for f in fetches))

sizes = jsonl("sizes.jsonl")
print("sizes:", sizes)
if sizes:
    b = max(s["binary_mb"] for s in sizes)
    z = max(s["zip_mb"] for s in sizes)
    check("P7", "stripped binary / zip (x86_64)", f"{b:.1f} MB / {z:.1f} MB", "<= 8 MB / <= 4 MB", b <= 8 and z <= 4)

whole = {w["contender"]: w for w in jsonl("whole-function.jsonl")}
if whole:
    print("whole webhook function (section 8):")
    for name, w in whole.items():
        print(f"  {name:<28} " + ", ".join(f"{k} {v}" for k, v in w.items() if k not in ("bench", "contender")))
for w in jsonl("whole-sender.jsonl"):
    print(f"  sender {w['contender']:<28} CPU per send {w['cpu_per_send_us']} us, response {w['response_median_ms']} ms"
          f" per batch of {w['batch']}, cold {w['cold_first_response_ms']} ms, RSS {w['peak_rss_mb']} MB")
inst, table, py = (whole.get(k) for k in ("ours-instance", "ours-table", "python-boto3"))
if inst and table and py:
    ratio = table["response_median_ms"] / inst["response_median_ms"]
    check("P10", "table-mode response / instance mode (same moto)", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)
    t, i = py["cpu_per_invocation_us"] / table["cpu_per_invocation_us"], py["cpu_per_invocation_us"] / inst["cpu_per_invocation_us"]
    check("P11", "CPU per warm webhook vs Python + boto3", f"table 1/{t:.1f}, instance 1/{i:.1f} of Python's",
          "table <= 1/4, instance <= 1/5", t >= 4 and i >= 5)
    # The floors: what the same round trips cost with no SDK client (and with only the SDK's).
    floors = [(k, whole[k]) for k in ("floor-sigv4", "floor-sdk", "floor-sigv4-table") if k in whole]
    if floors:
        print("  floors against Python: " + ", ".join(
            f"{k} 1/{py['cpu_per_invocation_us'] / f['cpu_per_invocation_us']:.1f}" for k, f in floors))

print("\nbudget:")
for row in sorted(budget):
    print("  " + " | ".join(str(c) for c in row))
