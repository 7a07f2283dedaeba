#!/usr/bin/env python3
"""Logs the seeded users in N times and prints one credential per line.

usage: mklogins.py PORT N cookie|bearer
cookie: POST /login (session mode), prints the `session_id=…` cookie;
bearer: POST /token, prints the access token. Alternates alice and bob.
"""
import http.client
import json
import sys
import time


def main() -> None:
    port, count, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    path = "/login" if mode == "cookie" else "/token"
    start = time.monotonic()
    for i in range(count):
        user = "alice" if i % 2 == 0 else "bob"
        body = json.dumps({"user": user, "password": "correct-password"})
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            sys.exit(f"POST {path} answered {response.status}: {payload[:200]!r}")
        if mode == "cookie":
            print(response.getheader("Set-Cookie").split(";", 1)[0])
        else:
            print(json.loads(payload)["token"])
    took = time.monotonic() - start
    # One request at a time: each login's time is mostly its Argon2id verification.
    print(f"{count} logins ({path}) in {took:.1f} s: {took / count * 1000:.1f} ms each", file=sys.stderr)


if __name__ == "__main__":
    main()
