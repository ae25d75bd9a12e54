#!/usr/bin/env python3
"""Creates the stack of template.yaml in moto server's CloudFormation and checks what it built.

This script owns the question "does the template, as written, create what the Rust code
needs?". It transforms template.yaml with the SAM translator offline, uploads a placeholder
zip as the functions' code, creates the stack in moto and reads back queues, functions and
the sender's event source mapping. It never edits template.yaml; what moto cannot take is
adapted in memory and listed under "adaptations" (none of the transformed template so far).

  deploy --endpoint URL --stack-name NAME [--parameters K=V ...]   prints the stack as JSON
  check  --endpoint URL --settings FILE [--stack-name PREFIX]   deploys the default and a non-default
         parameter set, prints `ok ...` / `FAIL ...` per check and `N passed, M failed`;
         exits 1 on any failure.
Both take --template PATH (default: template.yaml). ServiceNames, the one parameter without a
default, is eu1 unless given.
"""
import argparse, io, json, logging, os, sys, time, zipfile
from pathlib import Path

for _k, _v in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
    os.environ[_k] = _v  # dummy credentials: moto only; the translator also needs a region
import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# The translator records metrics for a dummy publisher and warns at exit that they were not published.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parent.parent
CODE_BUCKET, CODE_KEY = "emulator-stack-code", "placeholder.zip"
REQUIRED = {"ServiceNames": "eu1"}  # the only parameter without a default


class Queue(str):
    """An expected environment value: the URL of the queue with this logical id."""


class Table(str):
    """An expected environment value: the name of the DynamoDB table with this logical id."""


ABSENT = object()  # an expected environment value: the variable is not set (the code's default applies)
WEBHOOK_BASE = object()  # an expected environment value: an https URL ending in /webhooks/ (the HTTP API's)


# What moto 5.2.5 accepts but drops, so nothing here can check it.
NOT_CHECKED = ("Lambda Architectures, TracingConfig and LoggingConfig; SQS RedriveAllowPolicy; DynamoDB TTL, SSE and "
               "point-in-time recovery; IAM policies "
               "(moto does not enforce them); API Gateway and alarms (not created, see 'skipped')")
# Every change made to the template on its way to moto, as printed in the output.
ADAPTATIONS = ["SAM template (in memory): CodeUri '.' (built by `sam build` with rust-cargolambda) "
               f"-> s3://{CODE_BUCKET}/{CODE_KEY}, a placeholder zip in moto's S3, as `sam package` would"]


class BundledPolicyLoader:
    """The translator's managed-policy loader without IAM calls: the map bundled with it."""
    def load(self):
        return get_bundled_managed_policy_map()["aws"]


def clients(endpoint):
    # The code is referenced by S3Bucket/S3Key and the template goes as TemplateBody, so no S3 URL
    # (which moto would want to say localhost) is involved: one endpoint serves every service.
    return {s: boto3.client(s, endpoint_url=endpoint) for s in ("cloudformation", "sqs", "lambda", "sns", "s3", "dynamodb")}


def upload_placeholder(s3):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho 'placeholder: run sam build for the real code' >&2\nexit 1\n")
    try:
        s3.create_bucket(Bucket=CODE_BUCKET)
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buf.getvalue())


def translate(template_path, params):
    sam = yaml_parse(Path(template_path).read_text())
    code = {"Bucket": CODE_BUCKET, "Key": CODE_KEY}
    for holder in [sam.get("Globals", {}).get("Function", {})] + [r.get("Properties", {}) for r in sam["Resources"].values()
                                                                   if r.get("Type") == "AWS::Serverless::Function"]:
        if isinstance(holder.get("CodeUri"), str) and not holder["CodeUri"].startswith("s3://"):
            holder["CodeUri"] = code
    # moto 5.2.5 takes the TRANSFORMED template as it is: no adaptation. Make any here, with a
    # comment saying why, and add it to ADAPTATIONS so the output says so.
    return transform(sam, dict(params), BundledPolicyLoader())


def effective(template, overrides):
    return {**{k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}, **overrides}


def condition(expr, params, conds):
    """Evaluates the template's conditions (Equals, Not, And, Or, Condition, Ref)."""
    if not isinstance(expr, dict):
        return expr
    (fn, arg), = expr.items()
    ev = lambda e: condition(e, params, conds)  # noqa: E731
    return {"Fn::Equals": lambda: str(ev(arg[0])) == str(ev(arg[1])), "Fn::Not": lambda: not ev(arg[0]),
            "Fn::And": lambda: all(map(ev, arg)), "Fn::Or": lambda: any(map(ev, arg)),
            "Condition": lambda: ev(conds[arg]), "Ref": lambda: params.get(arg, arg)}[fn]()


def deploy(c, template_path, stack, overrides):
    upload_placeholder(c["s3"])
    try:
        cfn = translate(template_path, overrides)
    except InvalidDocumentException as e:
        reason = [getattr(x, "message", str(x)) for x in e.causes]
        return {"stack": stack, "status": "TRANSFORM_FAILED", "reason": reason, "parameters": overrides}
    params = effective(cfn, overrides)
    cf = c["cloudformation"]
    try:
        cf.create_stack(StackName=stack, TemplateBody=json.dumps(cfn), Capabilities=["CAPABILITY_IAM"],
                        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()])
    except ClientError as e:
        return {"stack": stack, "status": "CREATE_REJECTED", "reason": str(e), "parameters": params}
    s = wait_for(cf, stack)
    out = {"stack": stack, "status": s["StackStatus"], "parameters": params, "adaptations": ADAPTATIONS,
           "outputs": {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}}
    if s["StackStatus"] != "CREATE_COMPLETE":
        out["reason"] = [f'{e.get("LogicalResourceId")}: {e.get("ResourceStatusReason")}'
                         for e in cf.describe_stack_events(StackName=stack)["StackEvents"] if "FAILED" in e.get("ResourceStatus", "")]
        return out
    out.update(describe_created(c, stack, cfn, params))
    return out


def wait_for(cf, stack):
    for _ in range(120):
        s = cf.describe_stacks(StackName=stack)["Stacks"][0]
        if not s["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    return s


def describe_created(c, stack, cfn, params):
    """What moto made: queue URLs and functions by logical id, and the resources it skipped."""
    summaries = c["cloudformation"].list_stack_resources(StackName=stack)["StackResourceSummaries"]
    res = {r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
           for r in summaries if r.get("LogicalResourceId")}  # moto lists what it skipped without an id
    conds = cfn.get("Conditions", {})
    configs = {lid: c["lambda"].get_function_configuration(FunctionName=name)
               for lid, (t, name) in res.items() if t == "AWS::Lambda::Function"}
    return {"skipped": [f"{lid} ({r['Type']})" for lid, r in cfn["Resources"].items()
                        if lid not in res and ("Condition" not in r or condition(conds[r["Condition"]], params, conds))],
            "queues": {lid: pid for lid, (t, pid) in res.items() if t == "AWS::SQS::Queue"},
            "tables": {lid: pid for lid, (t, pid) in res.items() if t == "AWS::DynamoDB::Table"},
            "functions": {lid: {"name": f["FunctionName"], "timeout": f.get("Timeout"),
                                "environment": f.get("Environment", {}).get("Variables", {}),
                                "event_sources": [
                                    {k: m.get(k) for k in ("EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds",
                                                           "FunctionResponseTypes")}
                                    for m in c["lambda"].list_event_source_mappings(FunctionName=f["FunctionName"])
                                    .get("EventSourceMappings", [])]}
                          for lid, f in configs.items()}}


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, what, detail=""):
        self.passed, self.failed = self.passed + bool(ok), self.failed + (not ok)
        print(f"{'ok' if ok else 'FAIL'} {what}" + ("" if ok or not detail else f": {detail}"), flush=True)
        return ok


def queue_attrs(sqs, url):
    try:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    except ClientError:
        return None


def check_queues(check, c, d, p, label):
    fifo, sent = p["QueueType"] == "fifo", p["EnableSentQueue"] == "true"
    # logical id: (FIFO?, its DLQ, maxReceiveCount, VisibilityTimeout); None where it does not apply
    outbound_visibility = str(int(p["SenderTimeoutSeconds"]) * 10)
    expect = {"EventsQueue": (fifo, "EventsDeadLetterQueue", p["MaxReceiveCount"], p["EventsVisibilityTimeoutSeconds"]),
              "EventsDeadLetterQueue": (fifo, None, None, None),
              "OutboundQueue": (fifo, "OutboundDeadLetterQueue", "1000", outbound_visibility),
              "OutboundRetryQueue": (fifo, "OutboundDeadLetterQueue", "1000", outbound_visibility),
              "OutboundDeadLetterQueue": (fifo, None, None, None)}
    if sent:
        expect.update(SentQueue=(False, "SentDeadLetterQueue", p["MaxReceiveCount"], None),
                      SentDeadLetterQueue=(False, None, None, None))
    else:
        for lid in ("SentQueue", "SentDeadLetterQueue"):
            check(lid not in d["queues"], f"{label}: {lid} not created (EnableSentQueue=false)")
    attrs = {lid: queue_attrs(c["sqs"], d["queues"].get(lid, "")) for lid in expect}
    arns = {lid: a["QueueArn"] for lid, a in attrs.items() if a}
    for lid, (want_fifo, dlq, receives, visibility) in expect.items():
        a = attrs[lid]
        if not check(a is not None, f"{label}: queue {lid} exists", "no such resource in the stack or in SQS"):
            continue
        check((a.get("FifoQueue") == "true") == want_fifo, f"{label}: {lid} is {'FIFO' if want_fifo else 'standard'}",
              f"FifoQueue={a.get('FifoQueue')}")
        wants = {"SqsManagedSseEnabled": "true", "MaximumMessageSize": "1048576", "VisibilityTimeout": visibility}
        for key, want in wants.items():
            if want is not None:
                check(a.get(key) == want, f"{label}: {lid} {key}={want}", f"got {a.get(key)}")
        redrive = json.loads(a.get("RedrivePolicy") or "null")
        if dlq is None:
            check(redrive is None, f"{label}: {lid} has no redrive of its own", f"got {redrive}")
            continue
        redrive = redrive or {}
        check(dlq in arns and redrive.get("deadLetterTargetArn") == arns[dlq], f"{label}: {lid} redrives to {dlq}",
              f"got {redrive.get('deadLetterTargetArn')}, want {arns.get(dlq)}")
        check(str(redrive.get("maxReceiveCount")) == receives, f"{label}: {lid} maxReceiveCount={receives}",
              f"got {redrive.get('maxReceiveCount')}")
    return arns


def expected_env(p, d, declared):
    """Each function's environment as the code declares it (`bridgectl settings --json`): for
    every declared variable, what the stack must set it to, from the declared source: a
    parameter's value (unset when the parameter is empty), a queue's URL or a table's name by
    logical id (empty when the stack has none), the webhook base, a literal; variables Lambda
    sets or the template leaves to the code's default must be absent."""
    def want(s):
        source, origin = s["source"], s["from"]
        if source == "parameter":
            return p[origin] if p[origin] != "" else ABSENT
        if source == "queue":
            return Queue(origin) if origin in d["queues"] else ""
        if source == "table":
            return Table(origin) if origin in d["tables"] else ""
        if source == "webhook_base":
            return WEBHOOK_BASE
        if source == "literal":
            return origin
        return ABSENT
    return {f["logical_id"]: {s["name"]: want(s) for s in f["settings"]} for f in declared}


def check_env_var(check, c, fn, var, want, arns, tables, label):
    got = fn["env"].get(var)
    if isinstance(want, Queue):
        a = queue_attrs(c["sqs"], got) if got else None
        if check(a is not None and a["QueueArn"] == arns.get(want), f"{label}: {fn['lid']} {var} is the URL of {want}",
                 f"{got!r} -> {a and a['QueueArn']}, want {arns.get(want)}"):
            # The code picks FIFO handling (group and dedup ids) by the URL's .fifo suffix.
            check(got.endswith(".fifo") == (a.get("FifoQueue") == "true"), f"{label}: {var} .fifo suffix matches the queue")
    elif isinstance(want, Table):
        check(got is not None and got == tables.get(want), f"{label}: {fn['lid']} {var} names {want}",
              f"{got!r}, want {tables.get(want)!r}")
    elif want is WEBHOOK_BASE:
        check(got is not None and got.startswith("https://") and got.endswith("/webhooks/"),
              f"{label}: {fn['lid']} {var} is the HTTP API's webhook base", f"got {got!r}")
    elif want is ABSENT:
        check(got is None, f"{label}: {fn['lid']} {var} unset (the code's default applies)", f"got {got!r}")
    else:
        check(got == want, f"{label}: {fn['lid']} {var}={want!r}", f"got {got!r}")


def check_functions(check, c, d, p, arns, label, declared):
    tables = d["tables"]
    for lid, expected in expected_env(p, d, declared).items():
        fn = d["functions"].get(lid)
        if not check(fn is not None, f"{label}: function {lid} exists"):
            continue
        fn.update(lid=lid, env={k: str(v) for k, v in fn["environment"].items()})  # moto keeps numbers as numbers
        missing = [n for n, want in expected.items() if want is not ABSENT and n not in fn["env"]]
        check(not missing, f"{label}: {lid} sets the variables the code reads", f"missing {missing}")
        undeclared = sorted(set(fn["env"]) - set(expected))
        check(not undeclared, f"{label}: {lid} sets only variables the code declares", f"undeclared {undeclared}")
        for var, want in expected.items():
            check_env_var(check, c, fn, var, want, arns, tables, label)
    ingest, sender = d["functions"].get("WebhookIngestFunction"), d["functions"].get("SenderFunction")
    num = lambda fn, var: int(fn["env"].get(var, "")) if fn["env"].get(var, "").isdigit() else -1  # noqa: E731
    # Whether the functions start with every deployable combination is tests/tests/startup.rs
    # (the code's own parsers); here, what moto's stack passes them.
    if ingest:
        env = ingest["env"]
        window = num(ingest, "SIGNATURE_TOLERANCE_SECONDS") if "SIGNATURE_TOLERANCE_SECONDS" in env else (
            86400 if env.get("NONCE_TABLE_NAME") else 600)
        want_window = int(p["SignatureWindowSeconds"] or (86400 if p["ReplayProtection"] == "table" else 600))
        check(window == want_window, f"{label}: signature window is {want_window} s", f"got {window}")
    if sender:
        check(str(sender["timeout"]) == sender["env"].get("FUNCTION_TIMEOUT_SECONDS"),
              f"{label}: FUNCTION_TIMEOUT_SECONDS is the sender's Timeout", f"Timeout {sender['timeout']}")
        check_mapping(check, c, sender["name"], p, arns, label)


def check_mapping(check, c, function, p, arns, label):
    maps = c["lambda"].list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    m = next((m for m in maps if m.get("EventSourceArn") == arns.get("OutboundQueue")), None)
    if not check(m is not None, f"{label}: sender has an event source mapping on OutboundQueue", f"got {maps}"):
        return
    check("ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []), f"{label}: mapping reports batch item failures")
    want = p["SenderBatchSize"]
    check(str(m.get("BatchSize")) == want, f"{label}: mapping BatchSize={want}", f"got {m.get('BatchSize')}")
    want = p["SenderMaximumConcurrency"]
    check(str((m.get("ScalingConfig") or {}).get("MaximumConcurrency")) == want, f"{label}: mapping MaximumConcurrency={want}")
    if p["QueueType"] == "standard":
        want = p["SenderBatchingWindowSeconds"]
        check(str(m.get("MaximumBatchingWindowInSeconds")) == want, f"{label}: mapping MaximumBatchingWindowInSeconds={want}",
              f"got {m.get('MaximumBatchingWindowInSeconds')}")
    r = next((m for m in maps if m.get("EventSourceArn") == arns.get("OutboundRetryQueue")), None)
    if not check(r is not None, f"{label}: sender has an event source mapping on OutboundRetryQueue", f"got {maps}"):
        return
    check("ReportBatchItemFailures" in (r.get("FunctionResponseTypes") or []), f"{label}: retry mapping reports batch item failures")
    want = "1" if p["QueueType"] == "fifo" else "10"
    check(str(r.get("BatchSize")) == want, f"{label}: retry mapping BatchSize={want}", f"got {r.get('BatchSize')}")
    want = p.get("RetryMaximumConcurrency", "2")
    check(str((r.get("ScalingConfig") or {}).get("MaximumConcurrency")) == want, f"{label}: retry mapping MaximumConcurrency={want}")


def check_nonce_table(check, c, d, p, label):
    name = d["tables"].get("NonceTable")
    if p["ReplayProtection"] != "table":
        check(name is None, f"{label}: no nonce table (ReplayProtection=instance)", f"got {name}")
        return
    if not check(name is not None, f"{label}: nonce table created"):
        return
    t = c["dynamodb"].describe_table(TableName=name)["Table"]
    check(t.get("KeySchema") == [{"AttributeName": "nonce", "KeyType": "HASH"}], f"{label}: nonce table keyed by nonce",
          f"got {t.get('KeySchema')}")
    mode = (t.get("BillingModeSummary") or {}).get("BillingMode")
    check(mode == "PAY_PER_REQUEST", f"{label}: nonce table on demand", f"got {mode}")
    # TTL, SSE and point-in-time recovery: moto's CloudFormation drops them (NOT_CHECKED);
    # tests/tests/template.rs checks them in the template itself.


def check_outputs(check, d, label):
    queues = ("EventsQueue", "EventsDeadLetterQueue", "OutboundQueue", "OutboundDeadLetterQueue", "SentQueue")
    want = {f"{q}Url": d["queues"].get(q) for q in queues}
    want.update({f"{f}Name": d["functions"].get(f, {}).get("name")
                 for f in ("WebhookIngestFunction", "SenderFunction", "SecretRotationFunction")})
    want["NonceTableName"] = d["tables"].get("NonceTable")
    for key, value in want.items():
        check(d["outputs"].get(key) == value, f"{label}: output {key}", f"got {d['outputs'].get(key)}, want {value}")


def check_set(check, c, template, stack, overrides, label, declared):
    d = deploy(c, template, stack, overrides)
    if not check(d["status"] == "CREATE_COMPLETE", f"{label}: stack {stack} reaches CREATE_COMPLETE",
                 f"{d['status']}: {d.get('reason')}"):
        return
    print(f"note {label}: moto skipped {', '.join(d['skipped']) or 'nothing'}")
    arns = check_queues(check, c, d, d["parameters"], label)
    check_functions(check, c, d, d["parameters"], arns, label, declared)
    check_nonce_table(check, c, d, d["parameters"], label)
    check_outputs(check, d, label)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["deploy", "check"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--stack-name", default="bridge")
    ap.add_argument("--template", default=str(ROOT / "template.yaml"))
    ap.add_argument("--parameters", nargs="*", default=[], metavar="K=V")
    ap.add_argument("--settings", help="check: the functions' declared settings, `bridgectl --json settings`")
    a = ap.parse_args()
    c = clients(a.endpoint)
    if a.command == "deploy":
        overrides = {**REQUIRED, **dict(kv.split("=", 1) for kv in a.parameters)}
        d = deploy(c, a.template, a.stack_name, overrides)
        print(json.dumps(d, indent=2, default=str))
        return 0 if d["status"] == "CREATE_COMPLETE" else 1
    if not a.settings:
        ap.error("check needs --settings (the output of `bridgectl --json settings`)")
    declared = json.loads(Path(a.settings).read_text())
    for note in ADAPTATIONS:
        print(f"note adaptation: {note}")
    print(f"note not checked (moto drops it): {NOT_CHECKED}")
    check = Checks()
    topic = c["sns"].create_topic(Name=f"{a.stack_name}-alarms")["TopicArn"]
    custom = {**REQUIRED, "ServiceNames": "eu1,us1", "QueueType": "standard", "EnableSentQueue": "true",
              "AlarmTopicArn": topic, "SenderTimeoutSeconds": "45", "MaxReceiveCount": "7",
              "SenderBatchSize": "5", "SenderBatchingWindowSeconds": "2",
              "ReplayProtection": "instance", "SignatureWindowSeconds": "300"}
    pitr = {**REQUIRED, "NoncePointInTimeRecovery": "true", "SignatureWindowSeconds": "259200"}
    check_set(check, c, a.template, f"{a.stack_name}-default", dict(REQUIRED), "default", declared)
    check_set(check, c, a.template, f"{a.stack_name}-custom", custom, "custom", declared)
    check_set(check, c, a.template, f"{a.stack_name}-pitr", pitr, "pitr", declared)
    print(f"{check.passed} passed, {check.failed} failed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
