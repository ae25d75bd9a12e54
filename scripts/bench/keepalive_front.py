"""A keep-alive front for moto, for benchmarks only: clients keep one connection open, as they
do with AWS's endpoints; each request is passed to moto on a connection of its own.

moto's server (werkzeug) answers every request with `Connection: close` (werkzeug
serving.py: "Always close the connection. This disables HTTP/1.1 keep-alive connections"), so
without this front every AWS call of a function under test would pay a TCP connect and close
that it never pays against AWS, and the harness would measure connection set-up instead of
the function. The front's own CPU is in its own process, counted for no contender.

Usage: keepalive_front.py MOTO_ENDPOINT   (prints the front's endpoint, then serves)
"""
import http.client
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def main():
    upstream = urllib.parse.urlparse(sys.argv[1])

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            conn.close()
            self.send_response(response.status, response.reason)
            for k, v in response.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() not in {"server", "date"}:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
