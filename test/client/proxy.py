#!/usr/bin/env python3
"""test/client/proxy.py PORT UPSTREAM CONTROL LOG ANSWERS_DIR

The man in the middle of the client tests: an HTTP proxy on 127.0.0.1:PORT
that forwards every request to UPSTREAM (http://127.0.0.1:N, a real
rollout-http) and, as the JSON file CONTROL says at the time of each request
(re-read every time; missing means {}), misbehaves:

  "tamper_answer": true       flip one byte of each check-update body (its
                              signature header kept)
  "replay": "FILE"            answer check-update with a recorded answer
                              instead of asking the server
  "cut_download_after": N     send a /download/ answer's headers (full length)
                              and only its first N bytes, then close
  "tamper_download": true     flip one byte in the middle of each download
  "signature_header": "TEXT"  send check-update answers with this
                              X-Rollout-Signature instead of the server's
  "pad_answer": N             append N spaces to each check-update body

Every check-update answer it passes on is saved as ANSWERS_DIR/N.json
({"status", "signature", "body"}), and each request is logged to LOG as one
JSON line: method, path, range (the Range header), upstream status, bytes
sent.
"""
import http.client
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, CONTROL, LOG, ANSWERS = sys.argv[1:6]
UP_HOST, UP_PORT = UPSTREAM.split("//")[1].split(":")
lock = threading.Lock()
counter = [0]


def control():
    try:
        with open(CONTROL) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def log(entry):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def flip(body, where):
    b = bytearray(body)
    b[where] ^= 0x01
    return bytes(b)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, headers, body, limit=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = body if limit is None else body[:limit]
        self.wfile.write(sent)
        self.wfile.flush()
        self.close_connection = True
        return len(sent)

    def handle_any(self):
        ctl = control()
        length = int(self.headers.get("Content-Length") or 0)
        req_body = self.rfile.read(length) if length else None
        entry = {"method": self.command, "path": self.path, "range": self.headers.get("Range")}
        path = self.path.split("?")[0]

        if path == "/api/v1/check-update" and ctl.get("replay"):
            with open(ctl["replay"]) as f:
                rec = json.load(f)
            entry.update(status=rec["status"], replayed=ctl["replay"])
            entry["sent"] = self.send(rec["status"], [("Content-Type", "application/json"),
                                                      ("X-Rollout-Signature", rec["signature"])],
                                      rec["body"].encode())
            log(entry)
            return

        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length", "keep-alive")}
        conn = http.client.HTTPConnection(UP_HOST, int(UP_PORT), timeout=30)
        conn.request(self.command, self.path, body=req_body, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        out_headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in ("content-length", "connection", "keep-alive", "transfer-encoding")]
        entry["status"] = resp.status
        limit = None
        if path == "/api/v1/check-update":
            signature = resp.getheader("X-Rollout-Signature")
            with lock:
                counter[0] += 1
                n = counter[0]
            with open(os.path.join(ANSWERS, "%d.json" % n), "w") as f:
                json.dump({"status": resp.status, "signature": signature or "", "body": body.decode()}, f)
            entry["recorded"] = n
            if "signature_header" in ctl:
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "x-rollout-signature"]
                out_headers.append(("X-Rollout-Signature", ctl["signature_header"]))
            if ctl.get("pad_answer"):
                body += b" " * int(ctl["pad_answer"])
            if ctl.get("tamper_answer"):
                # a digit of the answer, so it stays JSON: the signature must catch it
                where = max(i for i, c in enumerate(body) if chr(c).isdigit())
                body = flip(body, where)
                entry["tampered"] = where
        elif path.startswith("/download/"):
            if ctl.get("tamper_download") and body:
                body = flip(body, len(body) // 2)
                entry["tampered"] = len(body) // 2
            if ctl.get("cut_download_after") is not None:
                limit = int(ctl["cut_download_after"])
        entry["sent"] = self.send(resp.status, out_headers, body, limit)
        log(entry)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(PORT)), Proxy).serve_forever()
