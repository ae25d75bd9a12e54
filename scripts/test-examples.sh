#!/usr/bin/env bash
# Runs the producer and consumer examples (examples/python, examples/node) against a moto
# server on a free 127.0.0.1 port: what they send arrives with the right FIFO group, an invalid
# envelope is refused without sending, and the consumers print each event once (a base64 body
# decoded, a duplicate dropped) and leave the queue empty.
#
# First run: a venv at ${BRIDGE_EXAMPLES_VENV:-.venv-examples} (PyPI: requirements.txt and moto
# server) and `npm ci` in examples/node. Ends with "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv="${BRIDGE_EXAMPLES_VENV:-$root/.venv-examples}"
stamp="$venv/.installed-$(sha256sum examples/python/requirements.txt | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "installing examples/python/requirements.txt and moto server into $venv (first run only)" >&2
  python3 -m venv "$venv" || exit 1
  printf '*\n' >"$venv/.gitignore"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    -r examples/python/requirements.txt 'moto[server]==5.2.5' || exit 1
  touch "$stamp"
fi
if [ ! -d examples/node/node_modules ]; then
  (cd examples/node && npm ci --no-audit --no-fund) || exit 1
fi
py="$venv/bin/python"

state="$(mktemp -d)"
cleanup() {
  if [ -f "$state/moto.pid" ]; then
    kill "$(cat "$state/moto.pid")" 2>/dev/null
    wait "$(cat "$state/moto.pid")" 2>/dev/null
  fi
  rm -rf "$state"
}
trap cleanup EXIT

# Only ever the local emulator: never real credentials or a profile.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
echo $! >"$state/moto.pid"
endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  "$py" -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null && break
  kill -0 "$(cat "$state/moto.pid")" 2>/dev/null || { cat "$state/moto.log" >&2; exit 1; }
  sleep 0.2
done
"$py" -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null ||
  { echo "moto server did not start; $state/moto.log:" >&2; cat "$state/moto.log" >&2; exit 1; }

# The SQS chores of this test (boto3, against moto), written out at run time.
write_helper() {
  cat >"$1" <<'PY'
import argparse, base64, hashlib, json, pathlib, sys
import boto3, jsonschema

ROOT = pathlib.Path.cwd()
APP = "01HZX5DEM0APP00000000000AA"
TEXT = {"text_message": {"text": "Hello"}}
BUILTIN = {"from": APP + "@sms.sinchconversation.com", "to": "+15551234567",
           "message": {"text_message": {"text": "Your order has shipped."}}, "correlation_id": "order-4711"}
ENVELOPES = {
    "contact": {"app_id": APP, "channel": "WHATSAPP", "to": {"contact_id": "CONTACT1"}, "message": TEXT,
                "correlation_id": "examples-2"},
    "identities": {"app_id": APP, "service": "demo", "message": TEXT, "ttl": "86400s",
                   "to": {"channel_identities": [{"channel": "RCS", "identity": "+46732001122"},
                                                 {"channel": "SMS", "identity": "+46732001122"}]}},
    "raw": {"app_id": APP, "message": TEXT,
            "recipient": {"identified_by": {"channel_identities": [{"channel": "SMS", "identity": "+15550009999"}]}}},
    "unknown-field": {"from": BUILTIN["from"], "to": "+15551234567", "mesage": TEXT},
    "two-kinds": {"from": BUILTIN["from"], "to": "+15551234567", "message": dict(TEXT, media_message={"url": "x"})},
    "bare-identity-without-channel": {"app_id": APP, "to": "+15551234567", "message": TEXT},
}
sha = lambda text: hashlib.sha256(text.encode()).hexdigest()
group = lambda sender, recipient: "recipient-" + sha(f"{sender}|{recipient}")[:32]
EXPECTED = [  # envelope, group, dedup basis (correlation_id, else the compact body)
    (BUILTIN, group(BUILTIN["from"], "+15551234567"), "order-4711"),
    (ENVELOPES["contact"], group(APP, "contact:CONTACT1"), "examples-2"),
    (ENVELOPES["identities"], group(APP, "+46732001122"), None),
    (ENVELOPES["raw"], group(APP, "+15550009999"), None),
]
INBOUND = {"app_id": "APP1", "accepted_time": "2026-11-26T11:00:00.000Z",
           "message": {"id": "M1", "conversation_id": "C1", "contact_id": "K1",
                       "channel_identity": {"channel": "SMS", "identity": "+15551234567"}}}
INBOUND_RETRY = dict(INBOUND, accepted_time="2026-11-26T11:07:00.000Z")
DELIVERY = (b'{"app_id":"APP1","message_delivery_report":{"message_id":"M2","conversation_id":"C2",'
            b'"status":"DELIVERED","channel_identity":{"channel":"SMS","identity":"+15551234567"}},"x":"\xff"}')


def stored_events(tag):
    """Three events as webhook-ingest stores them: one inbound message twice (a Sinch retry
    stored outside the deduplication window, so with another dedup id) and a base64 body."""
    common = {"service": "demo", "received_at": "2026-11-26T11:00:00.123Z", "app_id": "APP1", "channel": "SMS"}
    inbound = dict(common, trigger="MESSAGE_INBOUND", event_id="M1", conversation_id="C1", contact_id="K1")
    delivery = dict(common, trigger="MESSAGE_DELIVERY", event_id="M2", conversation_id="C2", body_encoding="base64")
    bodies = [json.dumps(INBOUND), json.dumps(INBOUND_RETRY), base64.b64encode(DELIVERY).decode()]
    attrs = [inbound, inbound, delivery]
    groups = ["demo:conversation-C1", "demo:conversation-C1", "demo:conversation-C2"]
    return [{"body": b, "attributes": a, "message_group_id": g, "message_deduplication_id": sha(f"{tag}-{i}")}
            for i, (b, a, g) in enumerate(zip(bodies, attrs, groups))]


def fail(problem):
    print(problem)
    sys.exit(1)


def receive_all(sqs, url, want):
    got, empty = [], 0
    while len(got) < want and empty < 3:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageSystemAttributeNames=["All"]).get("Messages", [])
        empty = 0 if batch else empty + 1
        for m in batch:
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint-url")
    parser.add_argument("command")
    parser.add_argument("args", nargs="*")
    a = parser.parse_args()
    sqs = boto3.client("sqs", endpoint_url=a.endpoint_url)
    if a.command == "create":
        attributes = {"FifoQueue": "true", "VisibilityTimeout": "30"}
        print(sqs.create_queue(QueueName=a.args[0], Attributes=attributes)["QueueUrl"])
    elif a.command == "write-envelopes":
        for name, envelope in ENVELOPES.items():
            pathlib.Path(a.args[0], name + ".json").write_text(json.dumps(envelope))
    elif a.command == "expect-outbound":
        got = receive_all(sqs, a.args[0], len(EXPECTED))
        if len(got) != len(EXPECTED):
            fail(f"expected {len(EXPECTED)} messages, got {len(got)}")
        for envelope, group_id, basis in EXPECTED:
            match = [m for m in got if json.loads(m["Body"]) == envelope]
            if len(match) != 1:
                fail(f"no single message with body {json.dumps(envelope)}")
            sys_attrs = match[0]["Attributes"]
            if sys_attrs.get("MessageGroupId") != group_id:
                fail(f"group {sys_attrs.get('MessageGroupId')} != {group_id} for {json.dumps(envelope)}")
            if sys_attrs.get("MessageDeduplicationId") != sha(basis or match[0]["Body"]):
                fail(f"unexpected deduplication id for {json.dumps(envelope)}")
    elif a.command == "expect-empty":
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        counts = sqs.get_queue_attributes(QueueUrl=a.args[0], AttributeNames=names)["Attributes"]
        if any(int(v) for v in counts.values()):
            fail(f"queue not empty: {counts}")
    elif a.command == "event-schema":
        schema = json.loads((ROOT / "schemas/event-message.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        for event in stored_events("schema") + schema["examples"]:
            for error in validator.iter_errors(event):
                fail(f"{list(error.absolute_path)}: {error.message}")
    elif a.command == "put-events":
        for e in stored_events(a.args[1]):
            sqs.send_message(QueueUrl=a.args[0], MessageBody=e["body"], MessageGroupId=e["message_group_id"],
                             MessageDeduplicationId=e["message_deduplication_id"],
                             MessageAttributes={k: {"DataType": "String", "StringValue": v}
                                                for k, v in e["attributes"].items()})
    elif a.command == "expect-events":
        lines = [json.loads(l) for l in pathlib.Path(a.args[0]).read_text().splitlines() if l.strip()]
        by_id = {line.get("event_id"): line for line in lines}
        if len(lines) != 2 or set(by_id) != {"M1", "M2"}:
            fail(f"expected one line for M1 and one for M2, got {lines}")
        want = {"M1": ("MESSAGE_INBOUND", "demo:conversation-C1", len(json.dumps(INBOUND).encode()), None),
                "M2": ("MESSAGE_DELIVERY", "demo:conversation-C2", len(DELIVERY), "base64")}
        for event_id, (trigger, group_id, size, encoding) in want.items():
            line = by_id[event_id]
            seen = (line.get("trigger"), line.get("group_id"), line.get("body_bytes"), line.get("body_encoding"))
            if seen != (trigger, group_id, size, encoding) or line.get("app_id") != "APP1":
                fail(f"{event_id}: got {line}")
    else:
        fail(f"unknown command {a.command}")


main()
PY
}

pass=0
fail=0
check() { # check NAME COMMAND...: runs COMMAND, counts the result
  local name="$1"; shift
  if "$@" >"$state/check.out" 2>&1; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/     /' "$state/check.out"
  fi
}
helper() { "$py" "$state/helper.py" --endpoint-url "$endpoint" "$@"; }
refuses() { # exits 2 and says why
  local rc=0
  "$@" 2>"$state/refusal.err" || rc=$?
  cat "$state/refusal.err"
  [ "$rc" -eq 2 ] && grep -q "invalid envelope" "$state/refusal.err"
}
output_to() { local file="$1"; shift; "$@" >"$file"; }
produce_python() { "$py" examples/python/produce.py --endpoint-url "$endpoint" "$@"; }
produce_node() { node examples/node/produce.mjs --endpoint-url "$endpoint" "$@"; }
consume_python() { "$py" examples/python/consume.py --endpoint-url "$endpoint" "$@"; }
consume_node() { node examples/node/consume.mjs --endpoint-url "$endpoint" "$@"; }

write_helper "$state/helper.py"
outbound="$(helper create examples-outbound.fifo)" || exit 1
events="$(helper create examples-events.fifo)" || exit 1
helper write-envelopes "$state" || exit 1

# Producers: a valid envelope arrives, in the right group.
check "python produce: built-in example is sent" produce_python --queue-url "$outbound"
check "python produce: contact envelope is sent" produce_python --queue-url "$outbound" --envelope "$state/contact.json"
check "node produce: channel identities envelope is sent" produce_node --queue-url "$outbound" --envelope "$state/identities.json"
check "node produce: raw SendMessageRequest is sent" produce_node --queue-url "$outbound" --envelope "$state/raw.json"
check "outbound queue holds the four messages, each in its recipient's group" \
  helper expect-outbound "$outbound"

# Producers: an invalid envelope is refused and nothing is sent.
for bad in unknown-field two-kinds bare-identity-without-channel; do
  check "python produce refuses $bad" refuses produce_python --queue-url "$outbound" --envelope "$state/$bad.json"
  check "node produce refuses $bad" refuses produce_node --queue-url "$outbound" --envelope "$state/$bad.json"
done
check "nothing was sent for the invalid envelopes" helper expect-empty "$outbound"

check "the test events fit schemas/event-message.schema.json" helper event-schema

# Consumers: three stored events (one base64 body, one duplicate) print as two, queue emptied.
for lang in python node; do
  helper put-events "$events" "$lang" || exit 1
  check "$lang consume exits 0" output_to "$state/$lang.out" "consume_$lang" --queue-url "$events" --idle-exit 2
  check "$lang consume prints each event once, base64 body decoded" helper expect-events "$state/$lang.out"
  check "$lang consume leaves the events queue empty" helper expect-empty "$events"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
