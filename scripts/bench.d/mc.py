#!/usr/bin/env python3
"""memcached helper for scripts/bench (text protocol, loopback only).

  mc.py PORT fill N PREFIX DOMAIN   set PREFIX0@DOMAIN .. PREFIX(N-1)@DOMAIN (value: "v-" + key)
  mc.py PORT flush                  flush_all
  mc.py PORT stats                  print "name value" lines of "stats"
"""
import socket
import sys


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")


def fill(port, n, prefix, domain):
    s, r = connect(port)
    batch = []
    for i in range(n):
        key = f"{prefix}{i}@{domain}" if domain else f"{prefix}{i}"
        value = ("v-" + key).encode()
        batch.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (key.encode(), len(value), value))
        if len(batch) == 1000 or i == n - 1:
            s.sendall(b"".join(batch))
            batch = []
    s.sendall(b"mn\r\n")            # meta no-op: flushes the noreply pipeline
    line = r.readline()
    if line != b"MN\r\n":
        sys.exit(f"mc.py: fill: unexpected reply {line!r}")


def command(port, cmd):
    s, r = connect(port)
    s.sendall(cmd.encode() + b"\r\n")
    out = []
    while True:
        line = r.readline()
        if not line:
            sys.exit("mc.py: connection closed")
        line = line.rstrip(b"\r\n").decode()
        if line in ("END", "OK"):
            return out
        if line.startswith(("ERROR", "CLIENT_ERROR", "SERVER_ERROR")):
            sys.exit(f"mc.py: {cmd}: {line}")
        out.append(line)


def main(argv):
    port, verb = int(argv[1]), argv[2]
    if verb == "fill":
        fill(port, int(argv[3]), argv[4], argv[5])
    elif verb == "flush":
        command(port, "flush_all")
    elif verb == "stats":
        for line in command(port, "stats"):
            _, name, value = line.split(" ", 2)
            print(name, value)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
