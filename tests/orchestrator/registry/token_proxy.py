#!/usr/bin/env python3
"""Bearer-token front for a plain docker-registry, for kit_registry_test.

Usage: token_proxy.py UPSTREAM_PORT USER PASSWORD LOG
Listens on 127.0.0.1 (a free port, printed on stdout). /token answers the
Docker token dance (Basic USER:PASSWORD -> {"token": ...}, scope recorded in
LOG); /v2/... needs `Authorization: Bearer <token>` for a scope that covers
the request (pull for GET/HEAD, push for the rest), else 401 with
`WWW-Authenticate: Bearer realm=...,service=...`. Authorised requests are
forwarded to the registry unchanged.
"""
import base64
import http.client
import http.server
import json
import secrets
import urllib.parse
import sys

UPSTREAM, USER, PASSWORD, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
TOKENS = {}  # token -> set of actions


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def token(self):
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if auth != want:
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
        query = dict(p.split("=", 1) for p in self.path.split("?", 1)[1].split("&"))
        scope = urllib.parse.unquote(query.get("scope", ""))
        with open(LOG, "a") as f:
            f.write(scope + "\n")
        tok = secrets.token_hex(16)
        TOKENS[tok] = set(scope.rsplit(":", 1)[-1].split(","))
        self.reply(200, json.dumps({"token": tok}).encode(), [("Content-Type", "application/json")])

    def forward(self):
        if self.path.startswith("/token"):
            return self.token()
        if self.path.startswith("/v2/") and self.path != "/v2/":
            need = "pull" if self.command in ("GET", "HEAD") else "push"
            auth = self.headers.get("Authorization", "")
            tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if need not in TOKENS.get(tok, set()):
                realm = f"http://{self.headers['Host']}/token"
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
                    ("WWW-Authenticate", f'Bearer realm="{realm}",service="kitgate-test"')])
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
