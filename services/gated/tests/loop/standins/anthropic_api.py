"""Stand-in for Anthropic's Messages API over TLS: records each request's method, path and
headers (one JSON line each) and answers POST /v1/messages with a short SSE stream.
Usage: anthropic_api.py CERT KEY RECORD_FILE PORT_FILE"""

import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, record, port_file = sys.argv[1:5]
EVENTS = [
    ("message_start", {"type": "message_start", "message": {"id": "msg_1", "role": "assistant"}}),
    ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "streamed "}}),
    ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "hello"}}),
    ("message_stop", {"type": "message_stop"}),
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with open(record, "a") as f:
            entry = {"method": "POST", "path": self.path, "headers": self.headers.items()}
            entry["body"] = body.decode()
            f.write(json.dumps(entry) + "\n")
        if self.path != "/v1/messages":
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for name, data in EVENTS:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(port_file + ".tmp", port_file)
server.serve_forever()
