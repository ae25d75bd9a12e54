#!/usr/bin/env node
// Puts one outbound message on the sinch-bridge outbound queue.
//
// The envelope (--envelope FILE, else a built-in example) is validated against
// schemas/outbound-envelope.schema.json first: an invalid one is reported and nothing is sent
// (exit 2). On a FIFO queue (URL ending in .fifo) the message group is one per sender and
// recipient, so messages to one person stay in order, and the deduplication id comes from the
// correlation_id (else the body), so a retried produce within 5 minutes is not sent twice.
//
//   node produce.mjs --queue-url URL [--endpoint-url URL] [--envelope FILE]
//
// Credentials and region come from the usual AWS environment. Prints the SQS MessageId.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import Ajv2020 from "ajv/dist/2020.js";

const SCHEMA = new URL("../../schemas/outbound-envelope.schema.json", import.meta.url);

const EXAMPLE = {
  from: "01HZX5DEM0APP00000000000AA@sms.sinchconversation.com",
  to: "+15551234567",
  message: { text_message: { text: "Your order has shipped." } },
  correlation_id: "order-4711",
};

const sha256 = (text) => createHash("sha256").update(text, "utf8").digest("hex");

// Who the message goes to: the identity, contact id or first channel identity.
function recipientKey(envelope) {
  let to = envelope.to ?? envelope.recipient;
  if (typeof to === "string") return to;
  to = to.identified_by ?? to;
  if ("contact_id" in to) return `contact:${to.contact_id}`;
  return to.channel_identities[0].identity;
}

// One FIFO group per sender and recipient, hashed so phone numbers stay out of metadata.
function groupId(envelope) {
  const sender = envelope.from || envelope.app_id;
  return `recipient-${sha256(`${sender}|${recipientKey(envelope)}`).slice(0, 32)}`;
}

const { values: args } = parseArgs({
  options: {
    "queue-url": { type: "string" },
    "endpoint-url": { type: "string" },
    envelope: { type: "string" },
  },
});
if (!args["queue-url"]) {
  console.error("usage: node produce.mjs --queue-url URL [--endpoint-url URL] [--envelope FILE]");
  process.exit(64);
}

const envelope = args.envelope ? JSON.parse(readFileSync(args.envelope, "utf8")) : EXAMPLE;
const validate = new Ajv2020({ allErrors: true }).compile(JSON.parse(readFileSync(SCHEMA, "utf8")));
if (!validate(envelope)) {
  for (const error of validate.errors) {
    console.error(`invalid envelope: ${error.instancePath || "(envelope)"}: ${error.message}`);
  }
  process.exit(2);
}

const body = JSON.stringify(envelope);
const sqs = new SQSClient({
  endpoint: args["endpoint-url"],
  region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
});
const request = { QueueUrl: args["queue-url"], MessageBody: body };
if (args["queue-url"].endsWith(".fifo")) {
  request.MessageGroupId = groupId(envelope);
  request.MessageDeduplicationId = sha256(envelope.correlation_id || body);
}
const { MessageId } = await sqs.send(new SendMessageCommand(request));
console.log(MessageId);
