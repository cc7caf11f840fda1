#!/usr/bin/env python3
"""tcp_table(5) put stream for scripts/reliability (loopback only, bounded in time).

  puts.py PORT RATE SECONDS CONNS PREFIX [ACKED_FILE]
      sends "put PREFIXw-n value-PREFIXw-n" at RATE puts/s in total over CONNS connections
      (one request in flight per connection, as Postfix; one asyncio thread, so the
      generator itself takes little CPU from the server it measures), for SECONDS; prints
      "puts sent=.. acked=.. errors=.. broken=.. rate=.. p50_ms=.. p99_ms=.. cpu_us_per_put=.."
      (this process's user + system CPU divided by the puts sent);
      with ACKED_FILE, appends "key<TAB>value" of every acknowledged put as it arrives
      (so a kill -9 of the server leaves the exact acknowledged set on disk).
"""
import asyncio
import os
import sys
import time

port, rate, seconds, conns, prefix = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
acked_file = open(sys.argv[6], "a", buffering=1) if len(sys.argv) > 6 else None
stats = {"sent": 0, "acked": 0, "errors": 0, "broken": 0}
latencies = []


async def worker(w, start, end):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        stats["broken"] += 1
        return
    interval = conns / rate
    n = 0
    while True:
        due = start + w * interval / conns + n * interval
        if due >= end:
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        key = f"{prefix}{w}-{n}"
        value = f"value-{key}"
        t0 = time.monotonic()
        try:
            writer.write(f"put {key} {value}\n".encode())
            line = await asyncio.wait_for(reader.readline(), 15)
        except (OSError, asyncio.TimeoutError):
            line = b""
        latencies.append(time.monotonic() - t0)
        stats["sent"] += 1
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
    writer.close()


async def main():
    start = time.monotonic()
    await asyncio.gather(*(worker(w, start, start + seconds) for w in range(conns)))
    return time.monotonic() - start


elapsed = asyncio.run(main())
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
print(f"puts sent={stats['sent']} acked={stats['acked']} errors={stats['errors']} broken={stats['broken']} "
      f"rate={stats['sent'] / elapsed:.0f} p50_ms={p(0.5):.2f} p99_ms={p(0.99):.2f} "
      f"cpu_us_per_put={sum(os.times()[:2]) * 1e6 / max(stats['sent'], 1):.1f}")
