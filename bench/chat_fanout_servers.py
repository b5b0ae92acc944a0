"""The servers of the fan-out benchmark, each run as its own process.

`python -m bench.chat_fanout_servers socialdesk|bare|socketio --port N [--database URL]`

- socialdesk: the real app (every message persisted, hook and write-back scheduling
  included), served like `socialdesk serve --no-workers`, with send limits lifted;
- bare: a `websockets` server that relays each text frame to its room (the ceiling);
- socketio: python-socketio with rooms on the same uvicorn (what a team might pick).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
from collections import defaultdict
from typing import Any

import uvicorn

from app.chat.limits import ChatLimits

UVICORN: dict[str, Any] = {
    "host": "127.0.0.1",
    "ws": "websockets-sansio",
    "ws_per_message_deflate": False,
    "log_level": "warning",
    "backlog": 4096,
}
BENCH_LIMITS = ChatLimits(
    send_rate=1e9, send_burst=10**9, max_in_flight=10_000, send_queue_frames=8192
)


def serve_socialdesk(port: int, database_url: str, secret_key: str, redis_url: str | None) -> None:
    from app.config import Settings
    from app.kit.gc_tuning import tune_for_server
    from app.main import create_app

    settings = Settings(
        database_url=database_url, secret_key=secret_key, log_level="warning", redis_url=redis_url
    )
    app = create_app(settings)
    app.state.chat_limits = BENCH_LIMITS
    tune_for_server()  # as `socialdesk serve` does
    uvicorn.run(app, port=port, **UVICORN)


async def _bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    rooms: dict[str, set[ServerConnection]] = defaultdict(set)

    async def handler(ws: ServerConnection) -> None:
        room = (ws.request.path if ws.request else "/").rsplit("/", 1)[-1]
        rooms[room].add(ws)
        try:
            async for text in ws:
                broadcast(rooms[room], text)
        finally:
            rooms[room].discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096):
        await asyncio.Future()


def serve_socketio(port: int) -> None:
    # Optional (not a dependency of the project): imported by name so mypy need not know it.
    socketio = importlib.import_module("socketio")
    sio = socketio.AsyncServer(async_mode="asgi")

    async def join(sid: str, room: str) -> bool:
        await sio.enter_room(sid, room)
        return True

    async def msg(_sid: str, data: dict[str, Any]) -> None:
        await sio.emit("msg", data, room=data["room"])

    sio.on("join", join)
    sio.on("msg", msg)
    uvicorn.run(socketio.ASGIApp(sio), port=port, **UVICORN)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["socialdesk", "bare", "socketio"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database")
    parser.add_argument("--secret-key", default="bench-secret-key-" + "x" * 32)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args()
    print(json.dumps({"serving": args.kind, "port": args.port}), flush=True)
    if args.kind == "socialdesk":
        serve_socialdesk(args.port, args.database, args.secret_key, args.redis)
    elif args.kind == "bare":
        asyncio.run(_bare(args.port))
    else:
        serve_socketio(args.port)


if __name__ == "__main__":
    main()
