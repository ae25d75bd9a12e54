"""A fake AWS Lambda Runtime API on loopback, for benchmarks only.

Serves `GET /2018-06-01/runtime/invocation/next` from a list of events and records responses,
so a function binary (or a Node.js process) can be started against it exactly as Lambda would
start it, and timed or measured.
"""
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Runtime:
    def __init__(self):
        self.events = queue.Queue()
        self.first_next = threading.Event()
        self.first_next_at = None
        self.responses = 0
        self.errors = 0
        self.done = threading.Event()
        self.expected = 0
        # Per invocation: when its event was handed out, and (request id, when, body) of each
        # answer, for the whole-function comparison's response times.
        self.handed = {}
        self.answered = queue.Queue()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY the body waits
            # for the client's delayed ACK (40 ms on Linux) and every response time with it.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if runtime.first_next_at is None:
                    runtime.first_next_at = time.perf_counter()
                    runtime.first_next.set()
                event = runtime.events.get()
                if event is None:  # shutdown: hold the connection until the process is killed
                    time.sleep(3600)
                    return
                request_id, body = event
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0")
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                runtime.handed[request_id] = time.perf_counter()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0") or 0)
                answer = self.rfile.read(length)
                at = time.perf_counter()
                # .../runtime/invocation/{request id}/response|error
                runtime.answered.put((self.path.rstrip("/").split("/")[-2], at, answer))
                if "/error" in self.path:
                    runtime.errors += 1
                else:
                    runtime.responses += 1
                if runtime.expected and runtime.responses + runtime.errors >= runtime.expected:
                    runtime.done.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def lambda_env(self, name, memory=256):
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def stop(self):
        self.events.put(None)
        self.server.shutdown()
