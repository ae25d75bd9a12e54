"""The sender as a Python team would write it without this bridge: the service's key from
Secrets Manager (boto3, cached 300 s), an OAuth2 token cached until a minute before it expires,
one `messages:send` per SQS record over a kept-alive urllib3 pool (what boto3 itself uses), the
records that failed reported back for the event source to retry. No deletes (the event source
deletes what succeeded), no pacing, no dead-letter reasons.

Run as a Lambda custom runtime; for the whole-function comparison only
(scripts/bench/whole_function.py --sender).
"""
import json
import os
import time

import boto3
import urllib3

from runtime_loop import runtime_loop

PREFIX = os.environ.get("SERVICE_SECRET_PREFIX", "sinch-bridge/services/")
SERVICE = os.environ["SERVICES"].split(",")[0]
AUTH_URL = os.environ["SINCH_AUTH_URL"]
API = os.environ["CONVERSATION_API_URL"]
SECRETS = boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
HTTP = urllib3.PoolManager()
_cache = {}


def service():
    hit = _cache.get("service")
    if hit and hit[1] > time.monotonic():
        return hit[0]
    value = json.loads(SECRETS.get_secret_value(SecretId=PREFIX + SERVICE)["SecretString"])
    _cache["service"] = (value, time.monotonic() + 300)
    return value


def token(svc):
    hit = _cache.get("token")
    if hit and hit[1] > time.monotonic():
        return hit[0]
    answer = HTTP.request("POST", AUTH_URL, body="grant_type=client_credentials",
                          headers={**urllib3.make_headers(basic_auth=f"{svc['key_id']}:{svc['key_secret']}"),
                                   "Content-Type": "application/x-www-form-urlencoded"})
    got = json.loads(answer.data)
    _cache["token"] = (got["access_token"], time.monotonic() + got.get("expires_in", 3600) - 60)
    return got["access_token"]


def handler(event):
    svc = service()
    failed = []
    for record in event["Records"]:
        try:
            envelope = json.loads(record["body"])
            request = {"app_id": envelope["app_id"],
                       "recipient": {"identified_by": {"channel_identities": [
                           {"channel": envelope["channel"], "identity": envelope["to"]}]}},
                       "message": envelope["message"]}
            answer = HTTP.request("POST", f"{API}/{svc['region']}/v1/projects/{svc['project_id']}/messages:send",
                                  body=json.dumps(request),
                                  headers={"Authorization": f"Bearer {token(svc)}", "Content-Type": "application/json"})
            if answer.status >= 300:
                failed.append(record["messageId"])
            else:
                print(json.dumps({"level": "INFO", "outcome": "sent", "message_id": json.loads(answer.data).get("message_id")}), flush=True)
        except Exception:  # noqa: BLE001 - reported back for the event source to retry
            failed.append(record["messageId"])
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


if __name__ == "__main__":
    runtime_loop(handler)
