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
  "sign": {...}               stand-in for a server that does not sign yet:
                              add issued_at/expires_at/metadata_version/project
                              to check-update's data and sign the body with
                              the openssl CLI: {"key": PEM, "keyid": ID,
                              "lifetime": SECONDS, "metadata_version": N}; and
                              answer /api/v1/projects/P/keys with "keys"

Every check-update answer it passes on is saved as ANSWERS_DIR/N.json
({"status", "signature", "body"}), and each request is logged to LOG as one
JSON line: method, path, range (the Range header), upstream status, bytes
sent.
"""
import base64
import datetime
import http.client
import json
import os
import subprocess
import sys
import tempfile
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


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def self_sign(body, sign):
    """Add the signed fields to data and sign the new body with openssl."""
    doc = json.loads(body)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    doc["data"]["issued_at"] = rfc3339(now)
    doc["data"]["expires_at"] = rfc3339(now + datetime.timedelta(seconds=sign.get("lifetime", 604800)))
    doc["data"]["metadata_version"] = sign.get("metadata_version", 1)
    doc["data"]["project"] = sign.get("project", "default")
    out = json.dumps(doc, separators=(",", ":")).encode()
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "body"), "wb") as f:
            f.write(out)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", sign["key"], "-rawin",
                        "-in", os.path.join(d, "body"), "-out", os.path.join(d, "sig")], check=True)
        with open(os.path.join(d, "sig"), "rb") as f:
            sig = base64.b64encode(f.read()).decode()
    return out, "keyid=%s,sig=%s" % (sign["keyid"], sig)


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
        if "sign" in ctl and path.startswith("/api/v1/projects/") and path.endswith("/keys"):
            body = json.dumps({"code": 200, "message": "ok",
                               "data": {"project": "default", "keys": ctl["sign"].get("keys", [])}}).encode()
            entry.update(status=200, sent=self.send(200, [("Content-Type", "application/json")], body))
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
            if "sign" in ctl and resp.status == 200:
                body, signature = self_sign(body, ctl["sign"])
                out_headers = [(k, v) for k, v in out_headers if k.lower() != "x-rollout-signature"]
                out_headers.append(("X-Rollout-Signature", signature))
            with lock:
                counter[0] += 1
                n = counter[0]
            with open(os.path.join(ANSWERS, "%d.json" % n), "w") as f:
                json.dump({"status": resp.status, "signature": signature or "", "body": body.decode()}, f)
            entry["recorded"] = n
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
