#!/usr/bin/env python3
"""Raw-socket connection flood for scripts/reliability (loopback only, bounded in time).

Opens connections of several kinds to one socketmap listener on 127.0.0.1 and holds them:
  --idle N     connect and never send a byte
  --lookup N   connect, make one lookup, read the reply, then stay idle
  --slow N     connect and send an endless request one byte every --slow-interval seconds
  --big N      connect and send a maximal unfinished request (--big-size bytes, never the end)
Connections are opened at most --pending at a time (non-blocking connects, epoll). After
--hold seconds (counted from the end of the connect phase) everything is closed.
Prints one line: RESULT opened=.. failed=.. server_closed=.. open_at_end=.. answered=..
Needs `ulimit -n` above the number of connections (scripts/reliability.d raises it).
"""
import argparse, errno, selectors, socket, sys, time

def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--map", default="aliases")
    p.add_argument("--idle", type=int, default=0)
    p.add_argument("--lookup", type=int, default=0)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--big", type=int, default=0)
    p.add_argument("--big-size", type=int, default=1024 * 1024)
    p.add_argument("--slow-interval", type=float, default=5.0)
    p.add_argument("--sync", action="store_true", help="lookup connections send their request together, once all are open")
    p.add_argument("--pending", type=int, default=256)
    p.add_argument("--connect-timeout", type=float, default=5.0)
    p.add_argument("--connect-phase", type=float, default=60.0, help="give up opening after this many seconds")
    p.add_argument("--hold", type=float, default=20.0)
    return p.parse_args()

def lookup_request(a, i):
    payload = a.map.encode() + b" user%d@example.com" % i
    return b"%d:%s," % (len(payload), payload)

def big_request(a):
    header = b"%d:" % a.big_size
    return header + b"x" * (a.big_size - 1)   # one byte short of the payload: never complete

def slow_prefix(a):
    return b"%d:" % (1024 * 1024)

class Conn:
    __slots__ = ("sock", "kind", "state", "since", "out", "got")
    def __init__(self, sock, kind):
        self.sock, self.kind, self.state, self.since, self.out, self.got = sock, kind, "connecting", time.monotonic(), b"", 0

def main():
    a = parse()
    kinds = ["lookup"] * a.lookup + ["big"] * a.big + ["slow"] * a.slow + ["idle"] * a.idle
    sel = selectors.EpollSelector()
    stats = dict(opened=0, failed=0, server_closed=0, answered=0, send_blocked=0)
    conns = []
    big = big_request(a) if a.big else b""
    next_kind = 0
    pending = 0
    start = time.monotonic()
    hold_from = None
    last_slow = time.monotonic()

    def close(c, why):
        nonlocal pending
        if c.state == "closed":
            return
        if c.state == "connecting":
            pending -= 1
        try: sel.unregister(c.sock)
        except Exception: pass
        c.sock.close()
        c.state = "closed"
        stats[why] += 1

    def want(c, events):
        try: sel.modify(c.sock, events, c)
        except KeyError: sel.register(c.sock, events, c)

    while True:
        now = time.monotonic()
        # open more connections
        while next_kind < len(kinds) and pending < a.pending and now - start < a.connect_phase:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = Conn(s, kinds[next_kind]); next_kind += 1
            err = s.connect_ex(("127.0.0.1", a.port))
            if err not in (0, errno.EINPROGRESS):
                s.close(); stats["failed"] += 1; continue
            pending += 1
            conns.append(c)
            sel.register(s, selectors.EVENT_WRITE, c)
        connect_done = (next_kind >= len(kinds) or now - start >= a.connect_phase) and pending == 0
        if connect_done and hold_from is None:
            hold_from = now
            print("flood: connect phase %.1f s: opened=%d failed=%d" % (now - start, stats["opened"], stats["failed"]), file=sys.stderr)
            if a.sync:
                for i, c in enumerate(conns):
                    if c.kind == "lookup" and c.state == "open":
                        c.out = lookup_request(a, i)
                        want(c, selectors.EVENT_READ | selectors.EVENT_WRITE)
        if hold_from is not None and now - hold_from >= a.hold:
            break
        for key, ev in sel.select(timeout=0.05):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    close(c, "failed"); continue
                pending -= 1
                c.state = "open"; stats["opened"] += 1
                if c.kind == "lookup" and not a.sync: c.out = lookup_request(a, stats["opened"])
                elif c.kind == "big": c.out = big
                elif c.kind == "slow": c.out = slow_prefix(a)
                want(c, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0))
                continue
            if ev & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(65536)
                except (ConnectionResetError, OSError):
                    data = b""
                if not data:
                    close(c, "server_closed"); continue
                if c.got == 0: stats["answered"] += 1
                c.got += len(data)
            if ev & selectors.EVENT_WRITE and c.out:
                try:
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                except BlockingIOError:
                    pass
                except OSError:
                    close(c, "server_closed"); continue
                if not c.out:
                    want(c, selectors.EVENT_READ)
        # slow senders: one byte each per interval
        if now - last_slow >= a.slow_interval:
            last_slow = now
            for c in conns:
                if c.kind == "slow" and c.state == "open" and not c.out:
                    try: c.sock.send(b"x")
                    except BlockingIOError: stats["send_blocked"] += 1
                    except OSError: close(c, "server_closed")
        if now - start > a.connect_phase + a.hold + 120:
            break
        # drop pending connects that take too long
        if pending:
            for c in conns:
                if c.state == "connecting" and now - c.since > a.connect_timeout:
                    close(c, "failed")
    open_at_end = sum(1 for c in conns if c.state == "open")
    for c in conns:
        if c.state != "closed":
            c.sock.close()
    print("RESULT opened=%d failed=%d server_closed=%d open_at_end=%d answered=%d send_blocked=%d"
          % (stats["opened"], stats["failed"], stats["server_closed"], open_at_end, stats["answered"], stats["send_blocked"]))

if __name__ == "__main__":
    main()
