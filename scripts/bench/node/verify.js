// Webhook verifications per CPU-second with the official Sinch Node SDK
// (@sinch/sdk-client validateWebhookSignature), on the same bodies as the Rust bench.
// Prints one JSON line per body size.
const crypto = require('crypto');
const { validateWebhookSignature } = require('@sinch/sdk-client');

const secret = 'a-webhook-secret-of-usual-length';
const seconds = Number(process.env.BENCH_SECONDS || 3);

function body(size) {
  const head = '{"app_id":"01EB37HMH1M6SV18ASNS3G135H","project_id":"c36f3d3d-1513-4edd-ae42-11995557ff61","message":{"id":"01EQ8235TD19N21XQTH12B145D","direction":"TO_APP","contact_message":{"text_message":{"text":"';
  const tail = '"}},"channel_identity":{"channel":"WHATSAPP","identity":"46732001122"},"conversation_id":"01EQ8172WMDB8008EFT4M30481"}}';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

for (const size of [1024, 16 * 1024, 256 * 1024]) {
  const raw = body(size);
  const nonce = '01FJA8B4A7BM43YGWSG9GBV067';
  const timestamp = '1700000000';
  const signature = crypto.createHmac('sha256', secret).update(`${raw}.${nonce}.${timestamp}`).digest('base64');
  // Mixed-case names, as API Gateway may deliver them; the SDK lower-cases them itself.
  const headers = {
    'X-Sinch-Webhook-Signature': signature,
    'X-Sinch-Webhook-Signature-Nonce': nonce,
    'X-Sinch-Webhook-Signature-Timestamp': timestamp,
    'X-Sinch-Webhook-Signature-Algorithm': 'HmacSHA256',
  };
  const runs = [];
  for (let r = 0; r < 3; r++) {
    const wall = Date.now();
    const cpu0 = process.cpuUsage();
    let ops = 0;
    while (Date.now() - wall < seconds * 1000) {
      for (let i = 0; i < 256; i++) {
        if (!validateWebhookSignature(secret, headers, raw)) throw new Error('signature must validate');
      }
      ops += 256;
    }
    const cpu = process.cpuUsage(cpu0);
    runs.push(ops / ((cpu.user + cpu.system) / 1e6));
  }
  runs.sort((a, b) => a - b);
  console.log(JSON.stringify({ impl: 'node-sdk', bytes: size, ops_per_cpu_second: Math.round(runs[1]), min: Math.round(runs[0]), max: Math.round(runs[2]) }));
}
