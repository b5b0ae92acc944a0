"""Chat fan-out: N clients over R rooms, publishers at a fixed rate and flat out.

Prints JSON: deliveries/s, p50/p99 post-to-receipt latency and server RSS per idle
connection for Socialdesk (every message persisted, on SQLite or PostgreSQL), and in the
same run for a bare `websockets` broadcast server (the ceiling) and python-socketio with
rooms (when installed), with the ratios. Server and clients each get one core.

    .venv/bin/python -m bench.chat_fanout --clients 1000 --rooms 100 --rate 1000

Two replicas (`--replicas 2 --redis redis://...`, best on PostgreSQL): Socialdesk is
measured with one server process and then with two behind the Redis bus, each room's
members alternating between them and each room's publisher on one of them, so every
message crosses Redis; both runs use Redis, so the ratio is the replicas' own effect.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.chat_fanout_client import RawClient, open_raw, sent_at, stamp
from bench.chat_fanout_seed import Desk, seed
from bench.common import scratch_database

PAD = " the VPN drops every few minutes since this morning, on wifi and on cable" * 1
WINDOW = 32  # messages in flight per room when flat out


@dataclass
class Phase:
    recording: bool = False
    flat: bool = False
    deliveries: int = 0
    latencies: list[int] = field(default_factory=list)


class Server:
    """One server kind: how to reach a room, join it, publish, and spot a delivery."""

    kind = ""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ports = [port]  # replicas: the members of a room alternate between them
        self.counter = itertools.count()

    def path(self, room: int, member: int) -> str:
        raise NotImplementedError

    async def join(self, client: RawClient, room: int) -> None:
        return None

    def publish(self, client: RawClient, room: int) -> None:
        raise NotImplementedError

    def is_delivery(self, payload: bytes) -> bool:
        return True

    def answer(self, client: RawClient, payload: bytes) -> None:
        """Protocol chores (socket.io pings)."""


class Bare(Server):
    kind = "bare_websockets"

    def path(self, room: int, member: int) -> str:
        return f"/room/{room}"

    def publish(self, client: RawClient, room: int) -> None:
        client.send_text(stamp() + PAD)


class SocketIO(Server):
    kind = "python_socketio"

    def path(self, room: int, member: int) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    async def join(self, client: RawClient, room: int) -> None:
        await _wait(client, b"0{")
        client.send_text("40")
        await _wait(client, b"40")
        client.send_text(f'421["join","{room}"]')
        await _wait(client, b"431")

    def publish(self, client: RawClient, room: int) -> None:
        client.send_text("42" + json.dumps(["msg", {"room": str(room), "b": stamp() + PAD}]))

    def is_delivery(self, payload: bytes) -> bool:
        return payload.startswith(b'42["msg"')

    def answer(self, client: RawClient, payload: bytes) -> None:
        if payload == b"2":
            client.send_text("3")


class Socialdesk(Server):
    kind = "socialdesk"

    def __init__(self, port: int, desk: Desk) -> None:
        super().__init__(port)
        self.desk = desk

    def path(self, room: int, member: int) -> str:
        return f"/ws?token={self.desk.tokens[room][member]}"

    async def join(self, client: RawClient, room: int) -> None:
        await _wait(client, b'"type":"authenticated"')
        client.send_text(json.dumps({"type": "subscribe", "ticket_id": self.desk.tickets[room]}))
        await _wait(client, b'"type":"subscribed"')

    def publish(self, client: RawClient, room: int) -> None:
        frame = {
            "type": "message",
            "ticket_id": self.desk.tickets[room],
            "body": stamp() + PAD,
            "client_msg_id": f"b{next(self.counter)}",
        }
        client.send_text(json.dumps(frame))

    def is_delivery(self, payload: bytes) -> bool:
        return payload.startswith(b'{"type":"message"')


_waiters: dict[RawClient, tuple[bytes, asyncio.Future[None]]] = {}


async def _wait(client: RawClient, needle: bytes) -> None:
    for i, payload in enumerate(client.inbox):
        if needle in payload:
            del client.inbox[: i + 1]
            return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _waiters[client] = (needle, future)
    await asyncio.wait_for(future, 30)


class Run:
    """The clients of one server and what they received."""

    def __init__(self, server: Server, rooms: int, per_room: int) -> None:
        self.server = server
        self.rooms = rooms
        self.per_room = per_room
        self.phase = Phase()
        self.clients: list[RawClient] = []
        self.publishers: dict[RawClient, int] = {}

    def on_text(self, client: RawClient, payload: bytes) -> None:
        if not self.server.is_delivery(payload):
            waiter = _waiters.get(client)
            if waiter is not None and waiter[0] in payload:
                del _waiters[client]
                waiter[1].set_result(None)
            elif waiter is None and len(client.inbox) < 16:
                client.inbox.append(payload)
            self.server.answer(client, payload)
            return
        phase = self.phase
        if phase.recording:
            phase.deliveries += 1
            sent = sent_at(payload)
            if sent is not None:
                phase.latencies.append(time.perf_counter_ns() - sent)
        room = self.publishers.get(client)
        if room is not None and phase.flat:
            self.server.publish(client, room)  # closed loop: one out for each own echo

    async def connect(self, room: int, member: int) -> None:
        ports = self.server.ports
        port = ports[(member + room) % len(ports)]
        client = await open_raw("127.0.0.1", port, self.server.path(room, member), self.on_text)
        await self.server.join(client, room)
        self.clients.append(client)
        if member == 0:
            self.publishers[client] = room

    async def connect_all(self, pid: int) -> dict[str, float]:
        """Connect everyone (a few at a time); RSS growth per idle connection."""
        order = [(r, m) for m in range(self.per_room) for r in range(self.rooms)]
        warm = order[: self.rooms]
        await asyncio.gather(*(self.connect(r, m) for r, m in warm))
        await asyncio.sleep(1)
        before = rss_kib(pid)
        rest = order[self.rooms :]
        for i in range(0, len(rest), 50):
            await asyncio.gather(*(self.connect(r, m) for r, m in rest[i : i + 50]))
        await asyncio.sleep(2)
        after = rss_kib(pid)
        return {"rss_kib_per_idle_connection": round((after - before) / max(1, len(rest)), 1)}

    async def measure(
        self, pids: list[int], *, rate: float | None, seconds: float
    ) -> dict[str, Any]:
        self.phase = Phase(flat=rate is None)
        senders = [] if rate is None else [asyncio.create_task(self._steady(rate))]
        if rate is None:
            for client, room in self.publishers.items():
                for _ in range(WINDOW):
                    self.server.publish(client, room)
        await asyncio.sleep(1.0)  # warm-up, not recorded

        def server_cpu_now() -> float:
            return sum(cpu_seconds(pid) for pid in pids)

        cpu0, server0, start = time.process_time(), server_cpu_now(), time.perf_counter()
        self.phase.recording = True
        print(f"{self.server.kind} pids {pids}: recording", file=sys.stderr, flush=True)
        await asyncio.sleep(seconds)
        self.phase.recording = False
        wall = time.perf_counter() - start
        client_cpu, server_cpu = time.process_time() - cpu0, server_cpu_now() - server0
        self.phase.flat = False
        for task in senders:
            task.cancel()
        await asyncio.sleep(2.0)  # let in-flight messages land before the next phase
        return summary(self.phase, wall, client_cpu, server_cpu, self.per_room)

    async def _steady(self, rate: float) -> None:
        interval = len(self.publishers) / rate
        pubs = list(self.publishers.items())
        start = time.perf_counter()
        for tick in itertools.count():
            for i, (client, room) in enumerate(pubs):
                at = start + tick * interval + i * interval / len(pubs)
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.server.publish(client, room)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def summary(
    phase: Phase, wall: float, client_cpu: float, server_cpu: float, per_room: int
) -> dict[str, Any]:
    lat = sorted(phase.latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] / 1e6, 2) if lat else None

    return {
        "deliveries_per_second": round(phase.deliveries / wall),
        "messages_per_second": round(phase.deliveries / wall / per_room),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0)},
        "server_cpu": round(server_cpu / wall, 2),
        "client_cpu": round(client_cpu / wall, 2),
    }


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(kind: str, port: int, extra: list[str], pin: bool) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.chat_fanout_servers", kind, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
    )
    if pin:
        os.sched_setaffinity(process.pid, {0})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    raise RuntimeError(f"{kind} server did not start")


async def bench_one(
    server: Server,
    process: subprocess.Popen[bytes] | list[subprocess.Popen[bytes]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    processes = process if isinstance(process, list) else [process]
    pids = [p.pid for p in processes]
    run = Run(server, args.rooms, args.clients // args.rooms)
    try:
        result: dict[str, Any] = await run.connect_all(pids[0])
        result["fixed_rate"] = await run.measure(pids, rate=args.rate, seconds=args.seconds)
        result["flat_out"] = await run.measure(pids, rate=None, seconds=args.seconds)
        result["server_processes"] = len(pids)
        return result
    finally:
        run.close()
        for each in processes:
            each.terminate()
            each.wait(timeout=20)


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b:
        return None
    ratio = a["flat_out"]["deliveries_per_second"] / b["flat_out"]["deliveries_per_second"]
    return round(float(ratio), 3)


async def bench_socialdesk(
    args: argparse.Namespace, pin: bool, replicas: int = 1
) -> dict[str, Any]:
    async with scratch_database(args.database) as url:
        key = "bench-secret-key-" + secrets.token_hex(16)
        desk = await seed(url, key, args.rooms, args.clients // args.rooms)
        extra = ["--database", url, "--secret-key", key]
        if args.redis:
            extra += ["--redis", args.redis]
        ports = [free_port() for _ in range(replicas)]
        processes = [start_server("socialdesk", port, extra, pin) for port in ports]
        server = Socialdesk(ports[0], desk)
        server.ports = ports
        return await bench_one(server, processes, args)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    pin = (os.cpu_count() or 1) >= 2 and not args.no_pin
    if pin:
        os.sched_setaffinity(0, {1})
    results: dict[str, Any] = {}
    wanted = set(args.only.split(",")) if args.only else {"socialdesk", "bare", "socketio"}
    if "socialdesk" in wanted:
        results["socialdesk"] = await bench_socialdesk(args, pin)
        if args.replicas > 1:
            results["socialdesk_replicas"] = await bench_socialdesk(args, pin, args.replicas)
    if "bare" in wanted:
        port = free_port()
        results["bare_websockets"] = await bench_one(
            Bare(port), start_server("bare", port, [], pin), args
        )
    if "socketio" in wanted and not args.skip_socketio and _socketio_installed():
        port = free_port()
        process = start_server("socketio", port, [], pin)
        results["python_socketio"] = await bench_one(SocketIO(port), process, args)
    return _report(args, pin, results)


def _report(args: argparse.Namespace, pin: bool, results: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": "chat_fanout",
        "config": {
            "clients": args.clients,
            "rooms": args.rooms,
            "subscribers_per_room": args.clients // args.rooms,
            "fixed_rate_messages_per_second": args.rate,
            "flat_out_window_per_room": WINDOW,
            "seconds_per_phase": args.seconds,
            "database": "postgresql" if args.database.startswith("postgres") else "sqlite",
            "pinned_cores": pin,
            "redis": bool(args.redis),
            "replicas": args.replicas,
        },
        "results": results,
        "ratios_flat_out": {
            "socialdesk_vs_bare": _ratio(results.get("socialdesk"), results.get("bare_websockets")),
            "socialdesk_vs_socketio": _ratio(
                results.get("socialdesk"), results.get("python_socketio")
            ),
            "replicas_vs_one": _ratio(
                results.get("socialdesk_replicas"), results.get("socialdesk")
            ),
        },
    }


def _socketio_installed() -> bool:
    return importlib.util.find_spec("socketio") is not None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument(
        "--rate", type=float, default=1000, help="messages/s in the fixed-rate phase"
    )
    parser.add_argument("--seconds", type=float, default=10, help="recorded seconds per phase")
    parser.add_argument("--database", default="sqlite", help="sqlite, or a postgresql:// URL")
    parser.add_argument("--skip-socketio", action="store_true")
    parser.add_argument(
        "--only", default="", help="comma-separated subset of socialdesk,bare,socketio"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and clients")
    parser.add_argument("--replicas", type=int, default=1, help="also measure N servers")
    parser.add_argument("--redis", default="", help="redis:// URL: the servers share this bus")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
