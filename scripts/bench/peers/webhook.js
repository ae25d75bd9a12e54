// The webhook function as a Node.js team would write it without this bridge: the official Sinch
// SDK (@sinch/sdk-core: ConversationCallbackWebhooks validates the signature and names the
// trigger), AWS SDK v3 clients for Secrets Manager (secret cached 300 s, like ours) and SQS,
// a 600 s timestamp window (the SDK checks none), the body put on the FIFO events queue with
// the same group, deduplication id and attributes as ours, one log line per request. No replay
// protection beyond the window.
//
// Run as a Lambda custom runtime against AWS_LAMBDA_RUNTIME_API (runtime-loop.js); for the
// whole-function comparison only: scripts/bench/whole_function.py.
const crypto = require('crypto');
const { ConversationCallbackWebhooks } = require('@sinch/sdk-core');
const { SQSClient, SendMessageCommand } = require('@aws-sdk/client-sqs');
const { SecretsManagerClient, GetSecretValueCommand } = require('@aws-sdk/client-secrets-manager');

const endpoint = process.env.AWS_ENDPOINT_URL;
const queueUrl = process.env.EVENTS_QUEUE_URL;
const prefix = process.env.SERVICE_SECRET_PREFIX || 'sinch-bridge/services/';
const sqs = new SQSClient({ region: process.env.AWS_REGION, endpoint });
const secrets = new SecretsManagerClient({ region: process.env.AWS_REGION, endpoint });
const cache = new Map();

async function webhooks(service) {
  const hit = cache.get(service);
  if (hit && hit.until > Date.now()) return hit.webhooks;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: prefix + service }));
  const value = new ConversationCallbackWebhooks(JSON.parse(out.SecretString).webhook_secret);
  cache.set(service, { webhooks: value, until: Date.now() + 300_000 });
  return value;
}

const answer = (statusCode, body) => ({ statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function handler(event) {
  const service = (event.pathParameters || {}).service || '';
  const body = event.isBase64Encoded ? Buffer.from(event.body || '', 'base64').toString() : event.body || '';
  const headers = event.headers || {};
  const timestamp = Number(headers['x-sinch-webhook-signature-timestamp']);
  if (!(Math.abs(Date.now() / 1000 - timestamp) <= 600)) return answer(401, { error: 'invalid_signature' });
  const hooks = await webhooks(service);
  if (!hooks.validateAuthenticationHeader(headers, body, event.rawPath, 'POST')) {
    return answer(401, { error: 'invalid_signature' });
  }
  const parsed = hooks.parseEvent(body);
  const inner = Object.values(parsed).find((v) => v && typeof v === 'object' && 'id' in v) || {};
  const group = inner.conversation_id || parsed.app_id || 'none';
  await sqs.send(new SendMessageCommand({
    QueueUrl: queueUrl,
    MessageBody: body,
    MessageGroupId: `${service}:conversation-${group}`,
    MessageDeduplicationId: crypto.createHash('sha256').update(`${service}:${inner.id || body}`).digest('hex'),
    MessageAttributes: {
      service: { DataType: 'String', StringValue: service },
      trigger: { DataType: 'String', StringValue: parsed.trigger },
      app_id: { DataType: 'String', StringValue: parsed.app_id || '' },
    },
  }));
  console.log(JSON.stringify({ level: 'INFO', service, trigger: parsed.trigger, outcome: 'stored' }));
  return answer(200, { status: 'stored', trigger: parsed.trigger });
}

require('./runtime-loop')(handler);
