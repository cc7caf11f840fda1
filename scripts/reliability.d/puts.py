#!/usr/bin/env python3
"""tcp_table(5) put stream for scripts/reliability (loopback only, bounded in time).

  puts.py PORT RATE SECONDS CONNS PREFIX [ACKED_FILE]
      sends "put PREFIXn value-PREFIXn" at RATE puts/s in total over CONNS connections (one
      request in flight per connection, as Postfix), for SECONDS; prints one line
      "puts sent=.. acked=.. errors=.. broken=.. rate=.. p50_ms=.. p99_ms=..";
      with ACKED_FILE, appends "key<TAB>value" of every acknowledged put as it arrives
      (so a kill -9 of the server leaves the exact acknowledged set on disk).
"""
import socket
import sys
import threading
import time

port, rate, seconds, conns, prefix = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
acked_path = sys.argv[6] if len(sys.argv) > 6 else None
lock = threading.Lock()
stats = {"sent": 0, "acked": 0, "errors": 0, "broken": 0}
latencies = []
acked_file = open(acked_path, "a", buffering=1) if acked_path else None


def worker(w):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        with lock:
            stats["broken"] += 1
        return
    r = s.makefile("rb")
    interval = conns / rate
    start = time.monotonic()
    end = start + seconds
    n = 0
    while True:
        due = start + n * interval
        now = time.monotonic()
        if due >= end:
            break
        if due > now:
            time.sleep(due - now)
        key = f"{prefix}{w}-{n}"
        value = f"value-{key}"
        t0 = time.monotonic()
        try:
            s.sendall(f"put {key} {value}\n".encode())
            line = r.readline()
        except OSError:
            line = b""
        dt = time.monotonic() - t0
        with lock:
            stats["sent"] += 1
            latencies.append(dt)
            if not line:
                stats["broken"] += 1
                return
            if line.startswith(b"200 "):
                stats["acked"] += 1
                if acked_file:
                    acked_file.write(f"{key}\t{value}\n")
            else:
                stats["errors"] += 1
        n += 1


t0 = time.monotonic()
threads = [threading.Thread(target=worker, args=(w,)) for w in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
print(f"puts sent={stats['sent']} acked={stats['acked']} errors={stats['errors']} broken={stats['broken']} "
      f"rate={stats['sent'] / elapsed:.0f} p50_ms={p(0.5):.2f} p99_ms={p(0.99):.2f}")
