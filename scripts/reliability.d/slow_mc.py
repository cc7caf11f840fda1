#!/usr/bin/env python3
"""A slow memcached for reliability runs (loopback only).

Speaks the text protocol subset the server uses (get with one or many keys, set, delete)
on an in-memory store, and answers each command DELAY seconds after it arrived or after
the previous reply on its connection, whichever is later: one command at a time per
connection, connections in parallel, as memcached's worker threads. --seed N stores
user0@example.com .. user(N-1)@example.com = "v".
Prints "port P" when ready; with --stats, the
connections and commands so far every 5 s.
"""
import argparse, asyncio, time

store = {}
stats = {"connections": 0, "open": 0, "commands": 0, "keys": 0}

def execute(line, data):
    w = line.split(b" ")
    if w[0] == b"get" and len(w) >= 2:
        out = []
        for k in w[1:]:
            if k in store:
                out.append(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(store[k]), store[k]))
        return b"".join(out) + b"END\r\n"
    if w[0] == b"set" and len(w) == 5 and data is not None:
        store[w[1]] = data
        return b"STORED\r\n"
    if w[0] == b"delete" and len(w) == 2:
        return b"DELETED\r\n" if store.pop(w[1], None) is not None else b"NOT_FOUND\r\n"
    return b"ERROR\r\n"

async def serve(reader, writer, delay):
    due = 0.0
    replies = asyncio.Queue()
    stats["connections"] += 1
    stats["open"] += 1

    async def write_loop():
        while True:
            at, data = await replies.get()
            if data is None:
                return
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    writer_task = asyncio.create_task(write_loop())
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            data = None
            w = line.split(b" ")
            if w[0] == b"set" and len(w) == 5:
                n = int(w[4])
                data = (await reader.readexactly(n + 2))[:n]
            reply = execute(line, data)
            stats["commands"] += 1
            stats["keys"] += len(w) - 1 if w[0] == b"get" else 1
            due = max(time.monotonic(), due) + delay
            await replies.put((due, reply))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        await replies.put((0, None))
        try:
            await writer_task
        except ConnectionError:
            pass
        writer.close()
        stats["open"] -= 1

async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=1.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stats", action="store_true", help="print connection and command counts every 5 s")
    a = p.parse_args()
    for i in range(a.seed):
        store[b"user%d@example.com" % i] = b"v"
    server = await asyncio.start_server(lambda r, w: serve(r, w, a.delay), "127.0.0.1", a.port, limit=1 << 20)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    if a.stats:
        async def report():
            while True:
                await asyncio.sleep(5)
                print("stats", " ".join(f"{k}={v}" for k, v in stats.items()), flush=True)
        asyncio.create_task(report())
    async with server:
        await server.serve_forever()

asyncio.run(main())
