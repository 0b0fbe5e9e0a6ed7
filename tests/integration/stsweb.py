"""An HTTPS server for the MTA-STS tests: GET /.well-known/mta-sts.txt serves ROOT/DOMAIN for
the Host header mta-sts.DOMAIN (each request noted in ROOT/requests), and a POST (a TLS-RPT
report to an https: rua) is kept as ROOT/posted/PATH: its Host and Content-Type lines, then the
body. Run as `python3 -c stsweb.SCRIPT ROOT PORT CERT KEY`; it prints "ready" when it listens."""

SCRIPT = r"""
import http.server, os, ssl, sys
root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = self.headers.get("Host", "").split(":")[0]
        with open(os.path.join(root, "requests"), "a") as f:
            f.write(host + " " + self.path + "\n")
        p = os.path.join(root, host.removeprefix("mta-sts."))
        if self.path != "/.well-known/mta-sts.txt" or not os.path.isfile(p):
            self.send_error(404)
            return
        body = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        os.makedirs(os.path.join(root, "posted"), exist_ok=True)
        out = os.path.join(root, "posted", self.path.strip("/").replace("/", "_"))
        with open(out + ".tmp", "wb") as f:
            f.write(self.headers.get("Host", "").encode() + b"\n" + self.headers.get("Content-Type", "").encode()
                    + b"\n" + body)
        os.rename(out + ".tmp", out)
        self.send_response(201)
        self.end_headers()
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
"""
