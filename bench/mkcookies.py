#!/usr/bin/env python3
"""Creates N sessions on a server and prints one `name=value` cookie per line.

usage: mkcookies.py PORT N
Each session is made by one POST /increment without a cookie, over one
keep-alive connection; the first Set-Cookie of the answer is the session cookie.
"""
import http.client
import sys


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(count):
        conn.request("POST", "/increment")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"POST /increment answered {response.status}")
        cookie = response.getheader("Set-Cookie")
        if not cookie:
            sys.exit("no Set-Cookie in the answer")
        print(cookie.split(";", 1)[0])


if __name__ == "__main__":
    main()
