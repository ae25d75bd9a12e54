"""The Lambda Runtime API loop of the Python peers: next event, the handler, its answer (or the
error the managed runtime would report). Documented at
docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html; the managed python3.11 runtime runs its
own client around the same handler.
"""
import http.client
import json
import os
import sys


def runtime_loop(handle):
    """The Lambda Runtime API loop: next event, the handler, its answer (or error)."""
    runtime = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        runtime.request("GET", "/2018-06-01/runtime/invocation/next")
        response = runtime.getresponse()
        event = json.loads(response.read())
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            path, payload = "response", json.dumps(handle(event))
        except Exception as e:  # what the managed runtime reports
            path, payload = "error", json.dumps({"errorMessage": str(e), "errorType": type(e).__name__})
            print(payload, file=sys.stderr, flush=True)
        runtime.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/{path}", body=payload.encode(),
                        headers={"Content-Type": "application/json"})
        runtime.getresponse().read()
