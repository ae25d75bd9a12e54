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
    for spec in sys.argv[2:]:
        name, command = spec.split("=", 1)
        samples = [measure(command.split(" "), extra) for _ in range(runs)]
        samples = [s for s in samples if s == s]
        print(json.dumps({
            "target": name,
            "runs": len(samples),
            "median_ms": round(statistics.median(samples), 2),
            "min_ms": round(min(samples), 2),
            "max_ms": round(max(samples), 2),
        }), flush=True)


if __name__ == "__main__":
    main()
