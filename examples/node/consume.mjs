#!/usr/bin/env node
// Reads Sinch callbacks from the sinch-bridge events queue (see schemas/event-message.schema.json).
//
// Prints one JSON line per event and deletes each message once handled. Delivery is at least
// once, so events seen before are dropped (remembered in memory): the key is the trigger, app
// and event_id (plus the status for delivery reports, where one message has several), else
// SQS's deduplication id, else the SQS message id.
//
//   node consume.mjs --queue-url URL [--endpoint-url URL] [--max N] [--idle-exit SECONDS]
//
// Credentials and region come from the usual AWS environment.
import { parseArgs } from "node:util";
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";

const SEEN_LIMIT = 100_000;

// The callback's bytes: base64-decoded when the bridge had to encode them.
function decodeBody(message, attributes) {
  return attributes.body_encoding === "base64"
    ? Buffer.from(message.Body, "base64")
    : Buffer.from(message.Body, "utf8");
}

function eventKey(message, attributes, callback) {
  if (attributes.event_id) {
    const report = callback.message_delivery_report || callback.event_delivery_report || {};
    const status = typeof report.status === "string" ? report.status : "";
    return `${attributes.trigger}|${attributes.app_id ?? ""}|${attributes.event_id}|${status}`;
  }
  return message.Attributes?.MessageDeduplicationId || message.MessageId;
}

const { values: args } = parseArgs({
  options: {
    "queue-url": { type: "string" },
    "endpoint-url": { type: "string" },
    max: { type: "string" },
    "idle-exit": { type: "string" },
  },
});
if (!args["queue-url"]) {
  console.error("usage: node consume.mjs --queue-url URL [--endpoint-url URL] [--max N] [--idle-exit SECONDS]");
  process.exit(64);
}
const max = args.max === undefined ? Infinity : Number(args.max);
const idleExit = args["idle-exit"] === undefined ? undefined : Number(args["idle-exit"]);

const sqs = new SQSClient({
  endpoint: args["endpoint-url"],
  region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
});
const seen = new Set();
let handled = 0;
let idleSince = Date.now();
while (handled < max) {
  const wait = idleExit === undefined ? 20 : Math.max(0, Math.min(20, Math.floor(idleExit)));
  const { Messages: messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: args["queue-url"],
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: wait,
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["MessageGroupId", "MessageDeduplicationId"],
    }),
  );
  if (messages.length === 0) {
    if (idleExit !== undefined && Date.now() - idleSince >= idleExit * 1000) break;
    continue;
  }
  idleSince = Date.now();
  for (const message of messages) {
    if (handled >= max) break; // the rest comes back after the visibility timeout, for the next reader
    const attributes = Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]),
    );
    const raw = decodeBody(message, attributes);
    let callback;
    try {
      callback = JSON.parse(raw.toString("utf8"));
    } catch {
      callback = null;
    }
    if (callback === null || typeof callback !== "object") callback = {};
    const key = eventKey(message, attributes, callback);
    if (!seen.has(key)) {
      seen.add(key);
      if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value);
      handled += 1;
      const line = { ...attributes, body_bytes: raw.length, group_id: message.Attributes?.MessageGroupId ?? null };
      console.log(JSON.stringify(Object.fromEntries(Object.entries(line).sort(([a], [b]) => (a < b ? -1 : 1)))));
    }
    await sqs.send(new DeleteMessageCommand({ QueueUrl: args["queue-url"], ReceiptHandle: message.ReceiptHandle }));
  }
}
