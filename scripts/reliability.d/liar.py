#!/usr/bin/env python3
"""A lying memcached for the lying-memcached reliability scenario (loopback only).

A scripted fake, not a real memcached: memcached never answers with another key's block, a
wrong length or garbage, and those are the faults this scenario feeds the server. Speaks the
text protocol subset the server uses (get with one or many keys, set, delete) on an
in-memory store preloaded from --preload (lines "key value": the truth), and answers each
command in order on its connection. With probability --lie-rate (seed --seed) a command's
reply is replaced by one lie, chosen uniformly among the kinds that apply to it:

  wrong-key     a VALUE block for a key not on the get line (with a made-up value), then END
  extra         the true reply, then an unsolicited VALUE..END, END or STORED; only when the
                server has not sent another command yet: behind a command already sent, an
                extra reply is that command's reply to any client of the text protocol (no
                request ids); then wrong-key instead (counted as extra-skipped)
  stretch       a VALUE length longer than the data sent: the block runs over into the next
                reply; the connection is closed unless another command is already waiting
                (so the server sees EOF at once instead of waiting for its timeout)
  key-twice     a key's block twice (the second with another value), then END
  garbage       a line of garbage instead of the reply
  error         ERROR, SERVER_ERROR x or CLIENT_ERROR x instead of the reply
  truncate      a prefix of the true reply, then close
  bad-length    a VALUE line with a huge or negative length
  dribble       the true reply byte by byte (not a lie: must be accepted)
  no-crlf       a data block not followed by CR LF
  shuffle       a multi-key get answered with its blocks in shuffled order (not a lie)

Every lie leaves the first true value in front (key-twice) or fails the reply as a whole, so
a server that checks replies gives no wrong answer; one that trusts them does. A lie that
leaves the stream out of step is followed by more true replies on the same connection
(memcached's connection would carry on too) unless it closes. Prints "port P" when ready and,
on SIGTERM or with --stats every 5 s, "stats commands=.. lies=.. kind=.." lines.
"""
import argparse, asyncio, os, random, signal, socket

store = {}
stats = {"connections": 0, "commands": 0, "get_keys": 0, "multi_gets": 0, "sets": 0, "lies": 0}
kinds = {}
rng = random.Random()

GET_LIES = ["wrong-key", "extra", "stretch", "key-twice", "garbage", "error", "truncate",
            "bad-length", "dribble", "no-crlf"]
SET_LIES = ["extra", "garbage", "error", "truncate", "dribble"]


def block(key, value):
    return b"VALUE %s 0 %d\r\n%s\r\n" % (key, len(value), value)


def true_get(keys, shuffle=False):
    found = [k for k in keys if k in store]
    if shuffle:
        rng.shuffle(found)
    return b"".join(block(k, store[k]) for k in found) + b"END\r\n"


def lie_get(kind, keys):
    """The reply bytes of lie KIND to get KEYS, and whether to close after them."""
    found = [k for k in keys if k in store]
    if kind == "wrong-key":
        other = b"x" + keys[0]                      # never on the line: keys are k<N>
        blocks = [block(k, store[k]) for k in found]
        blocks.insert(rng.randrange(len(blocks) + 1), block(other, b"LIE-" + other))
        return b"".join(blocks) + b"END\r\n", False
    if kind == "extra":
        extra = rng.choice([b"END\r\n", b"STORED\r\n", block(keys[-1], b"LIE-extra") + b"END\r\n"])
        return true_get(keys) + extra, False
    if kind == "stretch":
        # the declared length reaches R bytes past the end of this reply (R in 0..40): the
        # block runs into whatever follows; serve() never lets a CR LF sit at that place
        k = rng.choice(found) if found else keys[0]
        v = store.get(k, b"")
        head = b"VALUE %s 0 " % k
        tail = v + b"\r\n" + b"".join(block(x, store[x]) for x in found if x != k) + b"END\r\n"
        reach = rng.randint(0, 40)
        return head + b"%d\r\n" % (len(tail) + reach) + tail, reach
    if kind == "key-twice":   # the true block first: a single get takes it (V31), a multi-key one fails
        k = found[0]
        first = block(k, store[k])
        blocks = [block(x, store[x]) for x in found if x != k]
        return first + block(k, b"LIE-twice") + b"".join(blocks) + b"END\r\n", False
    if kind == "garbage":
        return rng.choice([b"HELLO\r\n", b"\x00\x01\x02garbage\r\n", b"VALUE\r\n", b"END END\r\n",
                           b"value k 0 1\r\n", b"ENDX\r\n", b"\r\n"]), False
    if kind == "error":
        return rng.choice([b"ERROR\r\n", b"SERVER_ERROR x\r\n", b"CLIENT_ERROR x\r\n"]), False
    if kind == "truncate":
        reply = true_get(keys)
        return reply[:rng.randrange(len(reply))], True
    if kind == "bad-length":
        n = rng.choice([b"-1", b"-100", b"99999999999", b"9223372036854775808", b"2147483648", b"10241"])
        return b"VALUE %s 0 %s\r\nxyz\r\nEND\r\n" % (keys[0], n), False
    if kind == "no-crlf":
        k = found[0] if found else keys[0]
        v = store.get(k, b"")
        return b"VALUE %s 0 %d\r\n%s" % (k, len(v), v) + rng.choice([b"", b"XX", b"\n", b"\r"]) + b"END\r\n", False
    raise ValueError(kind)


def lie_set(kind):
    if kind == "extra":
        return b"STORED\r\n" + rng.choice([b"END\r\n", b"STORED\r\n", b"VALUE k1 0 3\r\nLIE\r\nEND\r\n"]), False
    if kind == "garbage":
        return rng.choice([b"HELLO\r\n", b"STOREDX\r\n", b"\r\n"]), False
    if kind == "error":
        return rng.choice([b"ERROR\r\n", b"SERVER_ERROR x\r\n", b"CLIENT_ERROR x\r\n"]), False
    if kind == "truncate":
        return b"STORED\r\n"[:rng.randrange(8)], True
    raise ValueError(kind)


def pipelined(reader, writer):
    """Whether the server has sent another command already (read, or waiting in the socket)."""
    if reader._buffer:
        return True
    try:
        return bool(writer.get_extra_info("socket")._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def count(kind):
    stats["lies"] += kind not in ("dribble", "shuffle", "extra-skipped")
    kinds[kind] = kinds.get(kind, 0) + 1


async def send(writer, reply, dribble):
    """REPLY at once, or (dribble) in up to 100 pieces 1 ms apart (well inside the map's timeout)."""
    if not dribble:
        writer.write(reply)
    else:
        step = max(1, -(-len(reply) // 100))
        for i in range(0, len(reply), step):
            writer.write(reply[i:i + step])
            await writer.drain()
            await asyncio.sleep(0.001)
    await writer.drain()


async def serve(reader, writer, lie_rate):
    stats["connections"] += 1
    owed = None   # after a stretch lie: where in the bytes to come the server looks for the block's CR LF
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            w = line.rstrip(b"\r\n").split(b" ")
            stats["commands"] += 1
            close, dribble, reach = False, False, None
            lying = rng.random() < lie_rate
            if w[0] == b"get" and len(w) >= 2:
                keys = w[1:]
                stats["get_keys"] += len(keys)
                stats["multi_gets"] += len(keys) > 1
                kind = rng.choice(GET_LIES) if lying else None
                if kind == "key-twice" and not any(k in store for k in keys):
                    kind = "wrong-key"
                if kind == "extra" and pipelined(reader, writer):
                    count("extra-skipped")   # see "extra" above: no client could tell
                    kind = "wrong-key"
                if kind is None and len(keys) > 1 and rng.random() < 0.5:
                    count("shuffle")
                    reply = true_get(keys, shuffle=True)
                elif kind is None:
                    reply = true_get(keys)
                elif kind == "dribble":
                    count(kind)
                    reply, dribble = true_get(keys), True
                elif kind == "stretch":
                    count(kind)
                    reply, reach = lie_get(kind, keys)
                else:
                    count(kind)
                    reply, close = lie_get(kind, keys)
            elif w[0] == b"set" and len(w) == 5:
                n = int(w[4])
                store[w[1]] = (await reader.readexactly(n + 2))[:n]
                stats["sets"] += 1
                kind = rng.choice(SET_LIES) if lying and SET_LIES else None
                if kind is None:
                    reply = b"STORED\r\n"
                elif kind == "dribble":
                    count(kind)
                    reply, dribble = b"STORED\r\n", True
                else:
                    count(kind)
                    reply, close = lie_set(kind)
            elif w[0] == b"delete" and len(w) == 2:
                reply = b"DELETED\r\n" if store.pop(w[1], None) is not None else b"NOT_FOUND\r\n"
            else:
                reply = b"ERROR\r\n"
            if owed is not None:
                # a stretched block is still open: a CR LF where it ends would make it a sound
                # block (a value may hold CR LF, V09), a lie no reader can see; close instead
                if reply[owed:owed + 2] == b"\r\n":
                    break
                owed = owed - len(reply) if owed >= len(reply) else None
            await send(writer, reply, dribble)
            if reach is not None:
                owed = reach
                await asyncio.sleep(0.01)   # close unless the next command is already here
                close = not reader._buffer
            if close:
                break
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


def report():
    print("stats", " ".join(f"{k}={v}" for k, v in stats.items()),
          " ".join(f"{k}={v}" for k, v in sorted(kinds.items())), flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--preload", help='file of "key value" lines stored at start')
    p.add_argument("--lie-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", help="comma-separated: lie only in these ways (default: all)")
    p.add_argument("--stats", action="store_true", help="print the counts every 5 s")
    a = p.parse_args()
    rng.seed(a.seed)
    if a.kinds:
        only = a.kinds.split(",")
        GET_LIES[:] = [k for k in GET_LIES if k in only]
        SET_LIES[:] = [k for k in SET_LIES if k in only]
        if not GET_LIES:
            p.error("--kinds: no get lie among " + a.kinds)
    if a.preload:
        with open(a.preload, "rb") as f:
            for line in f:
                k, v = line.rstrip(b"\n").split(b" ", 1)
                store[k] = v
    server = await asyncio.start_server(lambda r, w: serve(r, w, a.lie_rate), "127.0.0.1", a.port, limit=1 << 20)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if a.stats:
        async def periodic():
            while True:
                await asyncio.sleep(5)
                report()
        asyncio.create_task(periodic())
    await stop.wait()
    report()
    os._exit(0)   # no teardown of the connections still open

asyncio.run(main())
