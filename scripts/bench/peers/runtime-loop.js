// The Lambda Runtime API loop of the Node peers: next event, the handler, its answer (or the
// error the managed runtime would report), over one kept-alive connection. Documented at
// docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html; the managed nodejs20.x runtime runs
// its own client around the same handler.
const http = require('http');

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const api = process.env.AWS_LAMBDA_RUNTIME_API.split(':');

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: api[0], port: api[1], method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

module.exports = (handler) => (async () => {
  for (;;) {
    const next = await call('GET', '/2018-06-01/runtime/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    let path = 'response';
    let payload;
    try {
      payload = JSON.stringify(await handler(JSON.parse(next.body)));
    } catch (e) {
      path = 'error';
      payload = JSON.stringify({ errorMessage: String(e), errorType: e.name });
      console.error(payload);
    }
    await call('POST', `/2018-06-01/runtime/invocation/${id}/${path}`, payload);
  }
})();
