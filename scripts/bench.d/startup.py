#!/usr/bin/env python3
"""Start-to-first-answer of the server (docs/benchmarks.md's start-up target).

  startup.py PORT MAP KEY RUNS -- COMMAND...

Spawns COMMAND, then sends one socketmap request "MAP KEY" to 127.0.0.1:PORT every
millisecond (a refused connect is retried at once) until a complete netstring reply
arrives; the time from spawn to that reply is one sample. The server is stopped
(SIGTERM) after each sample. Prints "samples_ms a b c ..." and "median_ms m".
"""
import os
import signal
import socket
import subprocess
import sys
import time


def first_answer(port, request, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(request)
                reply = b""
                while not reply.endswith(b","):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                if reply.endswith(b","):
                    return reply
        except OSError:
            pass
        time.sleep(0.001)
    return None


def main(argv):
    sep = argv.index("--")
    port, mapname, key, runs = int(argv[1]), argv[2], argv[3], int(argv[4])
    command = argv[sep + 1:]
    payload = f"{mapname} {key}".encode()
    request = b"%d:%s," % (len(payload), payload)
    samples = []
    for _ in range(runs):
        t0 = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reply = first_answer(port, request, t0 + 30)
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if reply is None:
            sys.exit("startup.py: no answer within 30 s")
        if not reply.split(b":", 1)[1].startswith(b"OK"):
            sys.exit(f"startup.py: unexpected first answer {reply!r}")
        samples.append((t1 - t0) * 1000)
    samples.sort()
    print("samples_ms " + " ".join(f"{s:.0f}" for s in samples))
    print(f"median_ms {samples[len(samples) // 2]:.0f}")
    print(f"min_ms {samples[0]:.0f}")


if __name__ == "__main__":
    main(sys.argv)
