#!/usr/bin/env python3
"""Reads Sinch callbacks from the sinch-bridge events queue (see schemas/event-message.schema.json).

Prints one JSON line per event and deletes each message once handled. Delivery is at least
once, so events seen before are dropped (remembered in memory): the key is the trigger, app
and event_id (plus the status for delivery reports, where one message has several), else
SQS's deduplication id, else the SQS message id.

    consume.py --queue-url URL [--endpoint-url URL] [--max N] [--idle-exit SECONDS]

Credentials and region come from the usual AWS environment.
"""
import argparse
import base64
import json
import os
import sys
import time
from collections import OrderedDict

import boto3

SEEN_LIMIT = 100_000


def decode_body(message, attributes):
    """The callback's bytes: base64-decoded when the bridge had to encode them."""
    if attributes.get("body_encoding") == "base64":
        return base64.b64decode(message["Body"])
    return message["Body"].encode("utf-8")


def event_key(message, attributes, callback):
    event_id = attributes.get("event_id")
    if event_id:
        trigger = attributes["trigger"]
        report = callback.get("message_delivery_report") or callback.get("event_delivery_report") or {}
        status = report.get("status", "") if isinstance(report, dict) else ""
        return f"{trigger}|{attributes.get('app_id', '')}|{event_id}|{status}"
    system = message.get("Attributes", {})
    return system.get("MessageDeduplicationId") or message["MessageId"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint-url", help="e.g. http://127.0.0.1:5055 for moto")
    parser.add_argument("--max", type=int, help="stop after this many events")
    parser.add_argument("--idle-exit", type=float, help="stop after this many seconds without messages")
    args = parser.parse_args()

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url, region_name=region)
    seen = OrderedDict()
    handled = 0
    idle_since = time.monotonic()
    while args.max is None or handled < args.max:
        wait = 20 if args.idle_exit is None else max(0, min(20, int(args.idle_exit)))
        messages = sqs.receive_message(
            QueueUrl=args.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
        ).get("Messages", [])
        if not messages:
            if args.idle_exit is not None and time.monotonic() - idle_since >= args.idle_exit:
                break
            continue
        idle_since = time.monotonic()
        for message in messages:
            if args.max is not None and handled >= args.max:
                break  # the rest comes back after the visibility timeout, for the next reader
            attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
            raw = decode_body(message, attributes)
            try:
                callback = json.loads(raw.decode("utf-8", errors="replace"))
            except ValueError:
                callback = None
            if not isinstance(callback, dict):
                callback = {}
            key = event_key(message, attributes, callback)
            if key not in seen:
                seen[key] = True
                if len(seen) > SEEN_LIMIT:
                    seen.popitem(last=False)
                handled += 1
                group = message.get("Attributes", {}).get("MessageGroupId")
                line = dict(attributes, body_bytes=len(raw), group_id=group)
                print(json.dumps(line, sort_keys=True, separators=(",", ":")), flush=True)
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
