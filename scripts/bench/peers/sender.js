// The sender as a Node.js team would write it without this bridge: the official Sinch SDK
// (@sinch/sdk-core: SinchClient, which fetches and caches the OAuth2 token itself, and
// conversation.messages.send), the service's key from Secrets Manager (AWS SDK v3, cached 300 s),
// every record of the batch sent at once, the failed ones reported back for the event source to
// retry. No deletes (the event source deletes what succeeded), no pacing, no dead-letter reasons.
//
// Run as a Lambda custom runtime (runtime-loop.js); for the whole-function comparison only
// (scripts/bench/whole_function.py --sender).
const { SinchClient } = require('@sinch/sdk-core');
const { SecretsManagerClient, GetSecretValueCommand } = require('@aws-sdk/client-secrets-manager');

const prefix = process.env.SERVICE_SECRET_PREFIX || 'sinch-bridge/services/';
const serviceName = process.env.SERVICES.split(',')[0];
const secrets = new SecretsManagerClient({ region: process.env.AWS_REGION, endpoint: process.env.AWS_ENDPOINT_URL });
let cached;

async function client() {
  if (cached && cached.until > Date.now()) return cached.sinch;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: prefix + serviceName }));
  const svc = JSON.parse(out.SecretString);
  const sinch = new SinchClient({
    projectId: svc.project_id,
    keyId: svc.key_id,
    keySecret: svc.key_secret,
    // The mock stands in for auth.sinch.com and {region}.conversation.api.sinch.com.
    authHostname: process.env.SINCH_AUTH_URL.replace(/\/oauth2\/token$/, ''),
    conversationHostname: `${process.env.CONVERSATION_API_URL}/${svc.region}`,
  });
  cached = { sinch, until: Date.now() + 300_000 };
  return sinch;
}

async function handler(event) {
  const sinch = await client();
  const results = await Promise.allSettled(event.Records.map(async (record) => {
    const envelope = JSON.parse(record.body);
    const answer = await sinch.conversation.messages.send({
      sendMessageRequestBody: {
        app_id: envelope.app_id,
        recipient: { identified_by: { channel_identities: [{ channel: envelope.channel, identity: envelope.to }] } },
        message: envelope.message,
      },
    });
    console.log(JSON.stringify({ level: 'INFO', outcome: 'sent', message_id: answer.message_id }));
  }));
  return {
    batchItemFailures: results
      .map((r, i) => (r.status === 'rejected' ? { itemIdentifier: event.Records[i].messageId } : null))
      .filter(Boolean),
  };
}

require('./runtime-loop')(handler);
