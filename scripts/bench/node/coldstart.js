// What a Node.js Lambda using the Sinch SDK does before its first invocation: load the SDK and
// an AWS SDK SQS client, build the clients, then ask the Runtime API for the next event.
const http = require('http');
const { SinchClient } = require('@sinch/sdk-core');
const { SQSClient } = require('@aws-sdk/client-sqs');

const sinch = new SinchClient({ projectId: 'p', keyId: 'k', keySecret: 's' });
const sqs = new SQSClient({ region: process.env.AWS_REGION });
void sinch.conversation;
void sqs;
http.get(`http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next`, () => {});
