"""Cold start to the first `GET …/invocation/next`, against a fake Runtime API.

Usage: coldstart.py RUNS NAME=COMMAND [NAME=COMMAND ...]   (COMMAND is split on spaces)
Prints one JSON line per target with the median and spread in milliseconds.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fake_runtime import Runtime  # noqa: E402


def measure(command, env_extra):
    runtime = Runtime()
    env = dict(os.environ)
    env.update(runtime.lambda_env("bench"))
    env.update(env_extra)
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = runtime.first_next.wait(timeout=30)
    elapsed = (runtime.first_next_at - start) * 1000 if ok else float("nan")
    proc.kill()
    proc.wait()
    runtime.stop()
    return elapsed


def main():
    runs = int(sys.argv[1])
    extra = json.loads(os.environ.get("COLDSTART_ENV", "{}"))
    targets = [spec.split("=", 1) for spec in sys.argv[2:]]
    # The targets take turns, run by run, so a burst of load on this shared machine hits all alike.
    samples = {name: [] for name, _ in targets}
    for _ in range(runs):
        for name, command in targets:
            samples[name].append(measure(command.split(" "), extra))
    for name, _ in targets:
        kept = [s for s in samples[name] if s == s]
        print(json.dumps({
            "target": name,
            "runs": len(kept),
            "median_ms": round(statistics.median(kept), 2),
            "min_ms": round(min(kept), 2),
            "max_ms": round(max(kept), 2),
        }), flush=True)

if __name__ == "__main__":
    main()
