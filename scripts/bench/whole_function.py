"""The whole webhook function side by side: ours in both replay modes, the same handler in
Python (boto3) and in Node.js (AWS SDK v3 + the Sinch SDK), each a real process under the same
fake Runtime API (fake_runtime.py), all against the same moto, with the same 1 KiB signed
callbacks. BENCHMARKS.md, section 8.

Usage: whole_function.py INGEST_BINARY [WARM_PER_REPEAT] [REPEATS]
Environment: MOTO_ENDPOINT (scripts/moto.sh start), NODE_PATH (target/bench-node/node_modules),
BENCH_PYTHON (a Python with boto3; default: this one), BENCH_BASELINE (an earlier build of ours,
run in the same turns), BENCH_ONLY (a comma-separated list of contenders), BENCH_FLOOR (adds the three floors of
tests/examples/webhook_floor.rs).

Per repeat: each contender starts cold and answers its first callback (cold first response:
spawn to the answer posted), warms up, then the contenders take turns, one invocation each, so
a burst of load on this shared machine hits all alike. Measured per contender: CPU per warm
invocation (all the process's threads, from /proc/PID/task/*/schedstat, over the warm phase),
response time (event handed out to answer posted, at the Runtime API), peak RSS (VmHWM).
moto's own SendMessage (one HTTP call from here, through the same front) is measured in the same
turns. moto closes every connection and AWS does not: the contenders reach moto through a
keep-alive front (keepalive_front.py) unless BENCH_DIRECT_MOTO=1.
Prints one JSON line per contender and one for moto; asserts nothing but that every answer
was a 200.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from fake_runtime import Runtime  # noqa: E402
from footprint import SECRET, aws, vm_hwm_mb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# Where the contenders send their AWS calls: the keep-alive front, or moto itself.
ENDPOINT = [""]
APP = "01EB37HMH1M6SV18ASNS3G135H"
WARMUP = 20


def callback(service, tag, i):
    """A signed MESSAGE_INBOUND of 1 KiB, as API Gateway (payload 2.0) hands it over."""
    head = {"app_id": APP, "project_id": "bench", "accepted_time": "2026-11-26T11:25:21.000Z",
            "message": {"id": f"{tag}-{i}", "conversation_id": f"C{i % 50}", "direction": "TO_APP",
                        "channel_identity": {"channel": "WHATSAPP", "identity": "46732001122", "app_id": APP},
                        "contact_id": "01EQ8235TD19N21XQTH12B145D", "contact_message": {"text_message": {"text": ""}}}}
    pad = 1024 - len(json.dumps(head, separators=(",", ":")))
    head["message"]["contact_message"]["text_message"]["text"] = "x" * pad
    body = json.dumps(head, separators=(",", ":"))
    nonce, ts = uuid.uuid4().hex, str(int(time.time()))
    sig = base64.b64encode(hmac.new(SECRET.encode(), f"{body}.{nonce}.{ts}".encode(), hashlib.sha256).digest()).decode()
    return {
        "version": "2.0", "routeKey": "POST /webhooks/{service}", "rawPath": f"/webhooks/{service}", "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": str(len(body)), "host": "bench.example.com",
                    "user-agent": "Sinch-Conversation-API", "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793",
                    "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "443", "x-forwarded-proto": "https",
                    "x-sinch-webhook-signature": sig, "x-sinch-webhook-signature-nonce": nonce,
                    "x-sinch-webhook-signature-timestamp": ts, "x-sinch-webhook-signature-algorithm": "HmacSHA256"},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.example.com",
                           "domainPrefix": "bench",
                           "http": {"method": "POST", "path": f"/webhooks/{service}", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7", "userAgent": "Sinch-Conversation-API"},
                           "requestId": str(uuid.uuid4()), "routeKey": "POST /webhooks/{service}", "stage": "$default",
                           "time": "26/Nov/2026:11:25:21 +0000", "timeEpoch": int(time.time() * 1000)},
        "pathParameters": {"service": service}, "body": body, "isBase64Encoded": False,
    }


def cpu_ns(pid):
    """CPU time of every thread of `pid` so far (schedstat's first field, nanoseconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def stored(answer):
    """A webhook answer: stored means API Gateway's 200."""
    return json.loads(answer or b"{}").get("statusCode") == 200


class Contender:
    """One function process under its own fake Runtime API. `event(contender, request_id)`
    builds each event (default: a signed callback), `ok(answer)` checks each answer."""

    def __init__(self, name, command, env, event=None, ok=stored):
        self.name, self.command, self.env = name, command, env
        self.event = event or (lambda c, request_id: callback(c.service, request_id, c.seq))
        self.ok = ok
        self.cold_ms, self.response_ms, self.cpu_us, self.rss_mb = [], [], [], []

    def start(self, service):
        self.runtime = Runtime()
        env = dict(os.environ)
        env.update(self.runtime.lambda_env(self.name.replace("+", "-"), memory=512))
        env.update({"AWS_ENDPOINT_URL": ENDPOINT[0], "SERVICES": service,
                    "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        env.update(self.env)
        self.service, self.seq = service, 0
        self.log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"whole-{self.name}.log"), "a")
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, env=env, stdout=self.log, stderr=self.log)
        _, at = self.invoke()
        self.cold_ms.append((at - started) * 1000)

    def invoke(self):
        """One invocation: returns (response time in ms, when the answer arrived)."""
        self.seq += 1
        request_id = f"{self.name}-{self.seq}"
        self.runtime.events.put((request_id, self.event(self, request_id)))
        answered_id, at, answer = self.runtime.answered.get(timeout=60)
        if answered_id != request_id or not self.ok(answer):
            raise SystemExit(f"{self.name}: {answered_id} answered {answer[:300]!r} (see the log in $TMPDIR)")
        return (at - self.runtime.handed[request_id]) * 1000, at

    def stop(self):
        self.rss_mb.append(vm_hwm_mb(self.proc.pid))
        self.proc.kill()
        self.proc.wait()
        self.runtime.stop()
        self.log.close()

    def summary(self):
        return {"contender": self.name, "warm_invocations": len(self.response_ms),
                "cpu_per_invocation_us": round(statistics.median(self.cpu_us)),
                "cpu_per_invocation_us_runs": [round(c) for c in self.cpu_us],
                "response_median_ms": round(statistics.median(self.response_ms), 2),
                "response_p90_ms": round(statistics.quantiles(self.response_ms, n=10)[-1], 2),
                "cold_first_response_ms": round(statistics.median(self.cold_ms), 1),
                "peak_rss_mb": round(statistics.median(self.rss_mb), 1)}


class MotoSend:
    """moto's own SendMessage on a kept-alive connection: what every contender waits for."""

    def __init__(self, queue_url):
        endpoint = urllib.parse.urlparse(ENDPOINT[0])
        self.conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port)
        self.queue_url, self.samples = queue_url, []

    def invoke(self):
        body = json.dumps({"QueueUrl": self.queue_url, "MessageBody": "x" * 1024, "MessageGroupId": "g",
                           "MessageDeduplicationId": uuid.uuid4().hex})
        started = time.perf_counter()
        self.conn.request("POST", "/", body=body, headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"})
        self.conn.getresponse().read()
        self.samples.append((time.perf_counter() - started) * 1000)


def take_turns(contenders, repeat, service, warmup, warm, each_round=None):
    """One repeat: every contender starts cold (in an order rotated by the repeat), warms up,
    then they take turns, one invocation each, `warm` times; `each_round` runs after each turn.
    Appends each contender's CPU per warm invocation and stops it."""
    order = contenders[repeat % len(contenders):] + contenders[:repeat % len(contenders)]
    for c in order:
        c.start(service)
    for _ in range(warmup):
        for c in order:
            c.invoke()
    before = {c.name: cpu_ns(c.proc.pid) for c in order}
    for _ in range(warm):
        for c in order:
            c.response_ms.append(c.invoke()[0])
        if each_round:
            each_round()
    for c in order:
        c.cpu_us.append((cpu_ns(c.proc.pid) - before[c.name]) / 1000 / warm)
        c.stop()


def aws_endpoint():
    """Points the contenders at moto through the keep-alive front (returned, to be killed), or
    at moto itself with BENCH_DIRECT_MOTO=1: AWS keeps connections alive and moto closes every
    one (keepalive_front.py), so only the front measures what AWS would cost."""
    if os.environ.get("BENCH_DIRECT_MOTO"):
        ENDPOINT[0] = os.environ["MOTO_ENDPOINT"]
        return None
    front = subprocess.Popen([sys.executable, os.path.join(HERE, "keepalive_front.py"), os.environ["MOTO_ENDPOINT"]],
                             stdout=subprocess.PIPE, text=True)
    ENDPOINT[0] = front.stdout.readline().strip()
    return front


def fifo_queue(name):
    return aws("sqs", "CreateQueue", {"QueueName": name + ".fifo", "Attributes": {"FifoQueue": "true"}})["QueueUrl"]


def main():
    binary = sys.argv[1]
    warm = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    contenders = [
        Contender("ours-instance", [binary], {}),
        Contender("ours-table", [binary], {}),
        Contender("python-boto3", [python, os.path.join(HERE, "peers", "webhook.py")], {}),
        Contender("node-aws-sdk-v3+sinch-sdk", ["node", os.path.join(HERE, "peers", "webhook.js")], {}),
    ]
    # An earlier build of ours in the same turns: before/after of a change (BENCH_BASELINE=path).
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:
        contenders += [Contender("before-instance", [baseline], {}), Contender("before-table", [baseline], {})]
    # The floors: the Python peer's steps in Rust with aws-sigv4 and no SDK client, with the SDK's
    # SQS client, and with ours' two table calls (tests/examples/webhook_floor.rs;
    # BENCH_FLOOR=target/release/examples/webhook_floor).
    floor = os.environ.get("BENCH_FLOOR")
    if floor:
        contenders.append(Contender("floor-sigv4", [floor], {}))
        contenders.append(Contender("floor-sdk", [floor], {"FLOOR_SDK": "1"}))
        contenders.append(Contender("floor-sigv4-table", [floor], {}))
    # Some contenders only (BENCH_ONLY=ours-instance,ours-table), e.g. to profile one with perf.
    only = os.environ.get("BENCH_ONLY")
    if only:
        contenders = [c for c in contenders if c.name in only.split(",")]
    tables = [c for c in contenders if c.name.endswith("-table")]
    front = aws_endpoint()
    moto = []
    for repeat in range(repeats):
        tag = uuid.uuid4().hex[:8]
        service = f"bench{tag}"
        aws("secretsmanager", "CreateSecret", {"Name": f"sinch-bridge/services/{service}", "SecretString": json.dumps({
            "region": "eu", "project_id": "bench", "key_id": "k", "key_secret": "s",
            "webhook_secret": SECRET, "apps": {APP: {}}})})
        table = f"nonces-{tag}"
        aws("dynamodb", "CreateTable", {"TableName": table, "BillingMode": "PAY_PER_REQUEST",
                                        "AttributeDefinitions": [{"AttributeName": "nonce", "AttributeType": "S"}],
                                        "KeySchema": [{"AttributeName": "nonce", "KeyType": "HASH"}]})
        for c in contenders:
            c.env["EVENTS_QUEUE_URL"] = fifo_queue(f"{c.name.replace('+', '-')}-{tag}")
        for c in tables:
            c.env["NONCE_TABLE_NAME"] = table
        raw = MotoSend(fifo_queue(f"raw-{tag}"))
        take_turns(contenders, repeat, service, WARMUP, warm, each_round=raw.invoke)
        moto.extend(raw.samples)
        print(json.dumps({"repeat": repeat + 1, **{c.name: round(c.cpu_us[-1]) for c in contenders}}), file=sys.stderr)
    if front:
        front.kill()
        front.wait()
    via = "moto" if front is None else "keep-alive front"
    for c in contenders:
        print(json.dumps({"bench": "whole_function", "aws_via": via, **c.summary()}), flush=True)
    print(json.dumps({"bench": "whole_function", "aws_via": via, "contender": "moto-raw-send-message",
                      "response_median_ms": round(statistics.median(moto), 2)}), flush=True)


if __name__ == "__main__":
    main()
