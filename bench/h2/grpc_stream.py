#!/usr/bin/python3
"""gRPC streaming through an intercepting proxy, for bench/h2/run.sh (Debian's python3-grpcio,
no generated code).

  grpc_stream.py server CERT KEY PORT_FILE
      TLS gRPC server on 127.0.0.1 (port written to PORT_FILE): kitgate.Bench/Stream answers one
      request of "COUNT SIZE" with COUNT messages of SIZE bytes (server streaming).
  grpc_stream.py client PROXY_URL CA_FILE TARGET COUNT SIZE
      One server-streaming call through the HTTP CONNECT proxy (trusting only CA_FILE); prints
      "messages: N in S s (R msg/s, M MiB/s)" and then N alone on the last line.
"""
import os
import sys
import time
from concurrent import futures

import grpc


def ident(b):
    return b


def serve(cert, key, port_file):
    def stream(req, context):
        count, size = (int(x) for x in req.split())
        payload = b"g" * size
        for _ in range(count):
            yield payload

    handlers = {"Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident)}
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kitgate.Bench", handlers),))
    with open(cert, "rb") as c, open(key, "rb") as k:
        creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


def call(proxy, ca_file, target, count, size):
    with open(ca_file, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    n = 0
    with grpc.secure_channel(target, creds, options=(("grpc.http_proxy", proxy),)) as ch:
        stream = ch.unary_stream("/kitgate.Bench/Stream", ident, ident)
        start = time.monotonic()
        for msg in stream(f"{count} {size}".encode(), timeout=120):
            n += 1
        secs = time.monotonic() - start
    print(f"messages: {n} in {secs:.2f} s ({n / secs:.0f} msg/s, {n * int(size) / secs / 2**20:.1f} MiB/s)")
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(*sys.argv[2:5])
    else:
        call(*sys.argv[2:7])
