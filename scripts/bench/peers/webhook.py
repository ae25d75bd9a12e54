"""The webhook function as a Python team would write it without this bridge: boto3, the
service's webhook secret from Secrets Manager (cached 300 s, like ours), the Sinch signature
checked with hmac.compare_digest and a 600 s timestamp window, the body put on the FIFO events
queue with the same group, deduplication id and attributes as ours, one log line per request.
No replay protection beyond the window (neither Sinch SDK has any).

Run as a Lambda custom runtime against AWS_LAMBDA_RUNTIME_API (runtime_loop.py); for the
whole-function comparison only: scripts/bench/whole_function.py.
"""
import base64
import hashlib
import hmac
import json
import os
import time

import boto3

from runtime_loop import runtime_loop

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL")
QUEUE_URL = os.environ["EVENTS_QUEUE_URL"]
PREFIX = os.environ.get("SERVICE_SECRET_PREFIX", "sinch-bridge/services/")
SQS = boto3.client("sqs", endpoint_url=ENDPOINT)
SECRETS = boto3.client("secretsmanager", endpoint_url=ENDPOINT)
TRIGGERS = {
    "message": "MESSAGE_INBOUND", "message_delivery_report": "MESSAGE_DELIVERY",
    "event": "EVENT_INBOUND", "event_delivery_report": "EVENT_DELIVERY",
    "contact_create_notification": "CONTACT_CREATE", "conversation_start_notification": "CONVERSATION_START",
}
_secrets = {}


def webhook_secret(service):
    hit = _secrets.get(service)
    if hit and hit[1] > time.monotonic():
        return hit[0]
    value = json.loads(SECRETS.get_secret_value(SecretId=PREFIX + service)["SecretString"])["webhook_secret"]
    _secrets[service] = (value, time.monotonic() + 300)
    return value


def answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event):
    service = (event.get("pathParameters") or {}).get("service", "")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    signature = headers.get("x-sinch-webhook-signature")
    nonce = headers.get("x-sinch-webhook-signature-nonce")
    timestamp = headers.get("x-sinch-webhook-signature-timestamp")
    if not (signature and nonce and timestamp) or abs(time.time() - int(timestamp)) > 600:
        return answer(401, {"error": "invalid_signature"})
    mac = hmac.new(webhook_secret(service).encode(), f"{body}.{nonce}.{timestamp}".encode(), hashlib.sha256)
    if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), signature):
        return answer(401, {"error": "invalid_signature"})
    callback = json.loads(body)
    trigger = next((t for key, t in TRIGGERS.items() if key in callback), "UNSUPPORTED")
    inner = next((callback[key] for key in TRIGGERS if key in callback), {})
    group = inner.get("conversation_id") or callback.get("app_id", "none")
    SQS.send_message(
        QueueUrl=QUEUE_URL,
        MessageBody=body,
        MessageGroupId=f"{service}:conversation-{group}",
        MessageDeduplicationId=hashlib.sha256(f"{service}:{inner.get('id', body)}".encode()).hexdigest(),
        MessageAttributes={
            "service": {"DataType": "String", "StringValue": service},
            "trigger": {"DataType": "String", "StringValue": trigger},
            "app_id": {"DataType": "String", "StringValue": callback.get("app_id", "")},
        },
    )
    print(json.dumps({"level": "INFO", "service": service, "trigger": trigger, "outcome": "stored"}), flush=True)
    return answer(200, {"status": "stored", "trigger": trigger})


if __name__ == "__main__":
    runtime_loop(handler)
