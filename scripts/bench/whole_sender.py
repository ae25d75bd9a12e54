"""The whole sender side by side: ours, the same handler in Python (boto3 for the secret,
urllib3 for Sinch) and in Node.js (AWS SDK v3 + the Sinch SDK), each a real process under the
same fake Runtime API, with the same SQS batches of 10 outbound messages, against the same mock
Conversation API and OAuth endpoint and the same moto. BENCHMARKS.md, section 8.

Usage: whole_sender.py SENDER_BINARY [WARM_PER_REPEAT] [REPEATS]
Environment: as whole_function.py (MOTO_ENDPOINT, NODE_PATH, BENCH_PYTHON, BENCH_DIRECT_MOTO,
BENCH_ONLY, BENCH_BASELINE).

Ours gets batches SQS really delivered (sent to its FIFO outbound queue and received, so its
early deletes are real calls); the peers get the same bodies and ids (they delete nothing: the
event source would delete what they report as done). The mock answers every token request and
every send at once. CPU per send is the process's CPU per warm invocation divided by 10.
"""
import json
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from footprint import aws, start_mock_sinch  # noqa: E402
from whole_function import HERE, Contender, aws_endpoint, fifo_queue, take_turns  # noqa: E402

APP = "01EB37HMH1M6SV18ASNS3G135H"
BATCH = 10
ACCOUNT = "123456789012"


def envelope(i, j):
    return json.dumps({"app_id": APP, "channel": "SMS", "to": f"+46732{i % 1000:03d}{j:03d}",
                       "correlation_id": f"c{i}-{j}", "message": {"text_message": {"text": "Your order has shipped."}}})


def record(queue_url, message_id, handle, body, attributes):
    return {"messageId": message_id, "receiptHandle": handle, "body": body, "attributes": attributes,
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}", "awsRegion": "us-east-1"}


def delivered_batch(contender, _request_id):
    """Ten messages through the contender's own queue, as the event source would hand them over."""
    queue = contender.env["OUTBOUND_QUEUE_URL"]
    aws("sqs", "SendMessageBatch", {"QueueUrl": queue, "Entries": [
        {"Id": str(j), "MessageBody": envelope(contender.seq, j), "MessageGroupId": f"g{j}",
         "MessageDeduplicationId": uuid.uuid4().hex} for j in range(BATCH)]})
    got = []
    while len(got) < BATCH:
        answer = aws("sqs", "ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": BATCH - len(got),
                                               "MessageSystemAttributeNames": ["All"], "AttributeNames": ["All"],
                                               "VisibilityTimeout": 300})
        got += answer.get("Messages", [])
    return {"Records": [record(queue, m["MessageId"], m["ReceiptHandle"], m["Body"], m.get("Attributes", {})) for m in got]}


def same_batch(contender, _request_id):
    """The same bodies and attributes, never on a queue (the peers delete nothing)."""
    now = str(int(time.time() * 1000))
    queue = contender.env["OUTBOUND_QUEUE_URL"]
    return {"Records": [record(queue, str(uuid.uuid4()), f"rh-{uuid.uuid4().hex}", envelope(contender.seq, j),
                               {"ApproximateReceiveCount": "1", "SentTimestamp": now, "ApproximateFirstReceiveTimestamp": now,
                                "MessageGroupId": f"g{j}", "MessageDeduplicationId": uuid.uuid4().hex,
                                "SenderId": "AIDAEXAMPLE", "SequenceNumber": str(j)}) for j in range(BATCH)]}


def all_sent(answer):
    return json.loads(answer or b"{}").get("batchItemFailures") == []


def main():
    binary = sys.argv[1]
    warm = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    python = os.environ.get("BENCH_PYTHON", sys.executable)
    mock = start_mock_sinch()
    sinch = {"SINCH_AUTH_URL": mock + "/oauth2/token", "CONVERSATION_API_URL": mock}
    contenders = [
        Contender("ours-sender", [binary], dict(sinch), event=delivered_batch, ok=all_sent),
        Contender("python-boto3-urllib3", [python, os.path.join(HERE, "peers", "sender.py")], dict(sinch),
                  event=same_batch, ok=all_sent),
        Contender("node-aws-sdk-v3+sinch-sdk", ["node", os.path.join(HERE, "peers", "sender.js")], dict(sinch),
                  event=same_batch, ok=all_sent),
    ]
    # An earlier build of ours in the same turns: before/after of a change (BENCH_BASELINE=path).
    baseline = os.environ.get("BENCH_BASELINE")
    if baseline:
        contenders.append(Contender("before-sender", [baseline], dict(sinch), event=delivered_batch, ok=all_sent))
    only = os.environ.get("BENCH_ONLY")
    if only:
        contenders = [c for c in contenders if c.name in only.split(",")]
    front = aws_endpoint()
    for repeat in range(repeats):
        tag = uuid.uuid4().hex[:8]
        service = f"bench{tag}"
        aws("secretsmanager", "CreateSecret", {"Name": f"sinch-bridge/services/{service}", "SecretString": json.dumps({
            "region": "eu", "project_id": "bench", "key_id": "k", "key_secret": "s", "webhook_secret": "w",
            "apps": {APP: {}}})})
        for c in contenders:
            c.env["OUTBOUND_QUEUE_URL"] = fifo_queue(f"out-{c.name.replace('+', '-')}-{tag}")
            c.env["DLQ_URL"] = fifo_queue(f"dlq-{c.name.replace('+', '-')}-{tag}")
        take_turns(contenders, repeat, service, 5, warm)
        print(json.dumps({"repeat": repeat + 1, **{c.name: round(c.cpu_us[-1] / BATCH) for c in contenders}}), file=sys.stderr)
    if front:
        front.kill()
        front.wait()
    for c in contenders:
        summary = c.summary()
        summary["cpu_per_send_us"] = round(statistics.median(c.cpu_us) / BATCH)
        print(json.dumps({"bench": "whole_sender", "batch": BATCH, **summary}), flush=True)


if __name__ == "__main__":
    main()
