#!/usr/bin/env python3
"""Puts one outbound message on the sinch-bridge outbound queue.

The envelope (from --envelope FILE, else a built-in example) is validated against
schemas/outbound-envelope.schema.json first: an invalid one is reported and nothing is sent
(exit 2). On a FIFO queue (URL ending in .fifo) the message group is one per sender and
recipient, so messages to one person stay in order, and the deduplication id comes from the
correlation_id (else the body), so a retried produce within 5 minutes is not sent twice.

    produce.py --queue-url URL [--endpoint-url URL] [--envelope FILE]

Credentials and region come from the usual AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).
Prints the SQS MessageId.
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import boto3
import jsonschema

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "outbound-envelope.schema.json"

EXAMPLE = {
    "from": "01HZX5DEM0APP00000000000AA@sms.sinchconversation.com",
    "to": "+15551234567",
    "message": {"text_message": {"text": "Your order has shipped."}},
    "correlation_id": "order-4711",
}


def recipient_key(envelope):
    """Who the message goes to: the identity, contact id or first channel identity."""
    to = envelope.get("to", envelope.get("recipient"))
    if isinstance(to, str):
        return to
    to = to.get("identified_by", to)
    if "contact_id" in to:
        return "contact:" + to["contact_id"]
    return to["channel_identities"][0]["identity"]


def group_id(envelope):
    """One FIFO group per sender and recipient, hashed so phone numbers stay out of metadata."""
    sender = envelope.get("from") or envelope.get("app_id")
    key = f"{sender}|{recipient_key(envelope)}"
    return "recipient-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def dedup_id(envelope, body):
    basis = envelope.get("correlation_id") or body
    return hashlib.sha256(basis.encode()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--endpoint-url", help="e.g. http://127.0.0.1:5055 for moto")
    parser.add_argument("--envelope", help="JSON file with the envelope (default: a built-in example)")
    args = parser.parse_args()

    envelope = json.loads(Path(args.envelope).read_text()) if args.envelope else EXAMPLE
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(envelope), key=lambda e: list(e.absolute_path))
    if errors:
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path) or "(envelope)"
            print(f"invalid envelope: {where}: {error.message[:200]}", file=sys.stderr)
        return 2

    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", endpoint_url=args.endpoint_url, region_name=region)
    request = {"QueueUrl": args.queue_url, "MessageBody": body}
    if args.queue_url.endswith(".fifo"):
        request["MessageGroupId"] = group_id(envelope)
        request["MessageDeduplicationId"] = dedup_id(envelope, body)
    print(sqs.send_message(**request)["MessageId"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
