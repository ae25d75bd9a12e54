"""Peak RSS of a function binary over N invocations through the fake Runtime API.

Usage: footprint.py webhook|sender BINARY N
Environment: MOTO_ENDPOINT (queues and secrets are provisioned there); the sender talks to\na minimal in-process mock Sinch.
Prints one JSON line: invocations, errors, peak RSS (VmHWM) in MB, wall time.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from fake_runtime import Runtime  # noqa: E402

SECRET = "bench-webhook-secret"


def aws(target, action, payload):
    """A minimal AWS JSON-protocol call to moto (no SDK needed)."""
    service = {"sqs": "AmazonSQS", "secretsmanager": "secretsmanager", "dynamodb": "DynamoDB_20120810"}[target]
    req = urllib.request.Request(
        os.environ["MOTO_ENDPOINT"] + "/",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1" if target == "secretsmanager" else "application/x-amz-json-1.0",
            "X-Amz-Target": f"{service}.{action}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + target + "/aws4_request, SignedHeaders=host, Signature=x",
        },
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")


def provision(service):
    name = f"bench-{uuid.uuid4().hex[:8]}"
    events = aws("sqs", "CreateQueue", {"QueueName": name})["QueueUrl"]
    dlq = aws("sqs", "CreateQueue", {"QueueName": name + "-dlq"})["QueueUrl"]
    secret = {
        "region": "eu", "project_id": "bench", "key_id": "k", "key_secret": "s",
        "webhook_secret": SECRET, "apps": {"01EB37HMH1M6SV18ASNS3G135H": {}},
    }
    aws("secretsmanager", "CreateSecret", {"Name": f"sinch-bridge/services/{service}", "SecretString": json.dumps(secret)})
    return events, dlq


def webhook_event(service, i):
    body = json.dumps({
        "app_id": "01EB37HMH1M6SV18ASNS3G135H", "project_id": "bench",
        "message": {"id": f"M{i}", "conversation_id": f"C{i % 50}",
                    "contact_message": {"text_message": {"text": "x" * 700}},
                    "channel_identity": {"channel": "WHATSAPP", "identity": "46732001122"}},
    })
    nonce, ts = uuid.uuid4().hex, str(int(time.time()))
    sig = base64.b64encode(hmac.new(SECRET.encode(), f"{body}.{nonce}.{ts}".encode(), hashlib.sha256).digest()).decode()
    return {
        "version": "2.0", "routeKey": "POST /webhooks/{service}", "rawPath": f"/webhooks/{service}", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-sinch-webhook-signature": sig,
                    "x-sinch-webhook-signature-nonce": nonce, "x-sinch-webhook-signature-timestamp": ts,
                    "x-sinch-webhook-signature-algorithm": "HmacSHA256"},
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench", "domainPrefix": "bench",
                           "http": {"method": "POST", "path": f"/webhooks/{service}", "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                           "requestId": str(i), "routeKey": "POST /webhooks/{service}", "stage": "$default",
                           "time": "26/Nov/2026:11:25:21 +0000", "timeEpoch": 0},
        "pathParameters": {"service": service}, "body": body, "isBase64Encoded": False,
    }


def sqs_event(i):
    records = []
    for j in range(10):
        body = json.dumps({"app_id": "01EB37HMH1M6SV18ASNS3G135H", "channel": "SMS", "to": f"+1555{i:06d}{j}",
                           "message": {"text_message": {"text": "hello"}}})
        records.append({"messageId": f"m{i}-{j}", "receiptHandle": f"rh{i}-{j}", "body": body,
                        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
                        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:outbound",
                        "awsRegion": "us-east-1"})
    return {"Records": records}


def start_mock_sinch():
    """The smallest Sinch that says yes: a token, then 200 for every send."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as in fake_runtime.py: no 40 ms delayed-ACK stalls

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if self.path.endswith("/oauth2/token"):
                body = b'{"access_token":"bench-token","expires_in":3600,"token_type":"bearer"}'
            else:
                body = b'{"message_id":"01BENCH","accepted_time":"2026-11-26T00:00:00Z"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def vm_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    kind, binary, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    service = f"bench{uuid.uuid4().hex[:6]}"
    events_url, dlq_url = provision(service)
    runtime = Runtime()
    env = dict(os.environ)
    env.update(runtime.lambda_env(kind))
    env.update({"AWS_ENDPOINT_URL": os.environ["MOTO_ENDPOINT"], "SERVICES": service, "RUST_LOG": "warn",
                "AWS_LAMBDA_LOG_LEVEL": "WARN"})
    if kind == "webhook":
        env["EVENTS_QUEUE_URL"] = events_url
        make = lambda i: webhook_event(service, i)  # noqa: E731
    else:
        mock = start_mock_sinch()
        env.update({"OUTBOUND_QUEUE_URL": events_url, "DLQ_URL": dlq_url, "SINCH_AUTH_URL": mock + "/oauth2/token",
                    "CONVERSATION_API_URL": mock})
        make = sqs_event
    for i in range(n):
        runtime.events.put((f"req-{i}", make(i)))
    runtime.expected = n
    start = time.perf_counter()
    log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"footprint-{kind}.log"), "w+")
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.DEVNULL)
    finished = runtime.done.wait(timeout=600)
    wall = time.perf_counter() - start
    peak = vm_hwm_mb(proc.pid)
    proc.kill()
    proc.wait()
    runtime.stop()
    # Every Secrets Manager call emits one SecretFetch EMF line on stdout.
    log.seek(0)
    fetches = sum(1 for line in log if '"SecretFetch"' in line)
    print(json.dumps({"function": kind, "invocations": runtime.responses + runtime.errors, "errors": runtime.errors,
                      "completed": finished, "peak_rss_mb": round(peak, 1), "wall_s": round(wall, 1),
                      "secret_fetches": fetches}), flush=True)


if __name__ == "__main__":
    main()
