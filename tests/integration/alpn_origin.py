#!/usr/bin/python3
"""An HTTPS origin that offers ALPN h2 and http/1.1 and counts its TLS
connections, for tests/integration/mitm_h2_test.cc (what the proxy offers
the upstream for an HTTP/1 sandbox client).

  alpn_origin.py CERT KEY PORT_FILE
      Listens on 127.0.0.1 (port written to PORT_FILE). Each TLS connection
      appends the protocol it negotiated to PORT_FILE.log ("h2", "http/1.1",
      "none"); an http/1.1 connection gets "200 ok" to every request, an h2
      one is closed (this origin speaks no HTTP/2).
"""
import os
import socket
import ssl
import sys
import threading


def serve(conn, log):
    proto = conn.selected_alpn_protocol() or "none"
    with open(log, "a") as f:
        f.write(proto + "\n")
    if proto == "h2":
        conn.close()
        return
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except OSError:
        pass
    conn.close()


def main(cert, key, port_file):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        raw, _ = lsock.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, port_file + ".log"), daemon=True).start()


if __name__ == "__main__":
    main(*sys.argv[1:4])
