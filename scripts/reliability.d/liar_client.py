#!/usr/bin/env python3
"""The checking client of the lying-memcached scenario (loopback only).

--conns connections (socketmap netstrings "MAP key", or tcp_table lines "get key") look up
random keys k0..k(--keys - 1), closed loop, until --lookups lookups are answered or
--duration seconds pass, and compare every answer with --truth (lines "key value"; a key not
in it must be NOT FOUND). A found value that differs from the truth is a wrong answer, a NOT
FOUND for a key in the truth a false NOT FOUND; TEMP (socketmap TEMP/TIMEOUT, tcp 4xx) is a
failover and only counted. Prints the first few failures and a RESULT line; exits 1 on any
wrong answer or false NOT FOUND, 2 when a connection breaks (the server must stay up).
"""
import argparse, asyncio, random, re, sys, time

counts = {"lookups": 0, "found": 0, "notfound": 0, "temp": 0, "wrong": 0, "false_notfound": 0, "other": 0}
shown = 0


def unquote(text):
    """tcp_table's %XX decoding (spec 1.3)."""
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text)


async def socketmap_lookup(reader, writer, mapname, key):
    req = mapname + b" " + key
    writer.write(b"%d:%s," % (len(req), req))
    length = int((await reader.readuntil(b":"))[:-1])
    payload = (await reader.readexactly(length + 1))[:-1]
    status, _, text = payload.partition(b" ")
    if status == b"OK":
        return "found", text
    if status == b"NOTFOUND":
        return "notfound", None
    if status in (b"TEMP", b"TIMEOUT"):
        return "temp", text
    return "other", payload


async def tcp_lookup(reader, writer, mapname, key):
    writer.write(b"get " + key + b"\n")
    line = (await reader.readline()).rstrip(b"\n")
    code, text = line[:3], line[4:]
    if code[:1] == b"2":
        return "found", unquote(text)
    if code[:1] == b"5":
        return "notfound", None
    if code[:1] == b"4":
        return "temp", text
    return "other", line


def check(key, kind, value, truth):
    global shown
    counts["lookups"] += 1
    counts[kind] += 1
    want = truth.get(key)
    bad = None
    if kind == "found" and value != want:
        counts["wrong"] += 1
        bad = "wrong answer"
    elif kind == "notfound" and want is not None:
        counts["false_notfound"] += 1
        bad = "false NOT FOUND"
    elif kind == "other":
        bad = "malformed reply"
    if bad and shown < 20:
        shown += 1
        print(f"{bad}: key {key!r}: got {kind} {value!r}, truth {want!r}", flush=True)


async def client(a, truth, keys, deadline, proto_lookup, port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    mapname = a.map.encode()
    try:
        while counts["lookups"] < a.lookups and time.monotonic() < deadline:
            key = rng.choice(keys)
            kind, value = await proto_lookup(reader, writer, mapname, key)
            check(key, kind, value, truth)
            if kind == "temp" and a.proto == "tcp":   # Postfix's tcp client closes after a 4xx
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proto", choices=["socketmap", "tcp"], required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--map", default="lies")
    p.add_argument("--truth", required=True)
    p.add_argument("--keys", type=int, required=True, help="ask k0 .. k(KEYS-1)")
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--lookups", type=int, default=300000)
    p.add_argument("--duration", type=float, default=600)
    a = p.parse_args()
    truth = {}
    with open(a.truth, "rb") as f:
        for line in f:
            k, v = line.rstrip(b"\n").split(b" ", 1)
            truth[k] = v
    keys = [b"k%d" % i for i in range(a.keys)]
    lookup = socketmap_lookup if a.proto == "socketmap" else tcp_lookup
    start = time.monotonic()
    deadline = start + a.duration

    async def progress():
        while True:
            await asyncio.sleep(10)
            print("progress", " ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
    ticker = asyncio.create_task(progress())
    results = await asyncio.gather(*(client(a, truth, keys, deadline, lookup, a.port) for _ in range(a.conns)),
                                   return_exceptions=True)
    ticker.cancel()
    broken = [r for r in results if isinstance(r, Exception)]
    for r in broken[:5]:
        print("connection broke:", repr(r), flush=True)
    seconds = time.monotonic() - start
    print("RESULT", f"proto={a.proto}", " ".join(f"{k}={v}" for k, v in counts.items()),
          f"broken={len(broken)} seconds={seconds:.1f} per_s={counts['lookups'] / seconds:.0f}", flush=True)
    if counts["wrong"] or counts["false_notfound"] or counts["other"]:
        sys.exit(1)
    if broken:
        sys.exit(2)

asyncio.run(main())
