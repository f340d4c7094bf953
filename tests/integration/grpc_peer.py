#!/usr/bin/python3
"""A real gRPC server and client (Debian's python3-grpcio) for the HTTP/2
interception test (tests/integration/mitm_h2_test.cc). No generated code:
four methods of service kitgate.Echo on raw bytes.

  grpc_peer.py server CERT KEY PORT_FILE WANT_AUTH
      TLS gRPC server on 127.0.0.1 (port written to PORT_FILE). Every method
      reports whether the request's `authorization` metadata equalled
      WANT_AUTH ("auth-ok" / "auth-wrong"); it never echoes the value.
      Unary "Deny" fails with PERMISSION_DENIED and a trailer.
  grpc_peer.py client PROXY_URL CA_FILE TARGET
      Calls every method through the HTTP CONNECT proxy, trusting only
      CA_FILE; prints one JSON object with what came back.
"""
import json
import sys
from concurrent import futures

import grpc


def ident(b):
    return b


def auth_word(context, want):
    md = dict(context.invocation_metadata())
    return b"auth-ok" if md.get("authorization") == want else b"auth-wrong"


def serve(cert, key, port_file, want):
    def unary(req, context):
        context.set_trailing_metadata((("x-trailer", "unary"),))
        return auth_word(context, want) + b":" + req

    def server_stream(req, context):
        for i in range(3):
            yield auth_word(context, want) + b":" + req + b":" + str(i).encode()

    def client_stream(it, context):
        return auth_word(context, want) + b":" + b",".join(it)

    def bidi(it, context):
        for req in it:
            yield auth_word(context, want) + b":" + req

    def deny(req, context):
        context.set_trailing_metadata((("x-why", "denied-by-test"),))
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, ident, ident),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, ident, ident),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, ident, ident),
        "Deny": grpc.unary_unary_rpc_method_handler(deny, ident, ident),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kitgate.Echo", handlers),))
    with open(cert, "rb") as c, open(key, "rb") as k:
        creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


def call(proxy, ca_file, target):
    with open(ca_file, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    out = {}
    with grpc.secure_channel(target, creds, options=(("grpc.http_proxy", proxy),)) as ch:
        m = lambda kind, name: getattr(ch, kind)("/kitgate.Echo/" + name, ident, ident)
        resp, c = m("unary_unary", "Unary").with_call(b"hello", timeout=20)
        out["unary"] = resp.decode()
        out["unary_trailer"] = dict(c.trailing_metadata()).get("x-trailer", "")
        out["server_stream"] = [r.decode() for r in m("unary_stream", "ServerStream")(b"s", timeout=20)]
        out["client_stream"] = m("stream_unary", "ClientStream")(iter([b"a", b"b", b"c"]), timeout=20).decode()
        out["bidi"] = [r.decode() for r in m("stream_stream", "Bidi")(iter([b"x", b"y", b"z"]), timeout=20)]
        try:
            m("unary_unary", "Deny")(b"", timeout=20)
            out["deny"] = "OK"
        except grpc.RpcError as e:
            out["deny"] = e.code().name
            out["deny_trailer"] = dict(e.trailing_metadata()).get("x-why", "")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(*sys.argv[2:6])
    else:
        call(*sys.argv[2:5])
