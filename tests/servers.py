"""Test servers on 127.0.0.1: the real llama.cpp OpenAI-compatible server, and a fault-injecting proxy."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process has not ended after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until_up(server, url: str, name: str, log=None, limit: float = 120.0) -> None:
    """Poll ``url`` until it answers; stop the server and raise if its process exits or time runs out."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start" + (f": {log.read_text()}" if log else ""))
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    server.close()
    raise RuntimeError(f"{name} did not come up in {limit:.0f} s")


class LlamaServer:
    """``python -m llama_cpp.server`` serving the embedded GGUF; stopped on ``close``."""

    def __init__(self, model_path: str, n_ctx: int = 4096, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", model_path, "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(n_ctx), "--logits_all", "true", "--verbose", "false", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_up(self, self.url + "/models", "llama_cpp.server")

    def close(self) -> None:
        stop(self.proc, 10)


class FaultProxy:
    """HTTP/1.1 proxy that fails a fraction of requests: 429 (with Retry-After), 500, a slow reply
    (longer than the client's timeout) or a dropped connection; the rest are forwarded upstream.

    Faults are drawn from a seeded RNG; ``counts`` tallies what happened, ``forwarded`` counts
    requests that reached the upstream server and came back. With ``refuse_n`` a request asking for n > 1
    replies gets llama.cpp's own server's answer (``refuse_n``: its HTTP status; 500 in older versions, 400 now).
    """

    def __init__(self, upstream: str, *, p429=0.0, p500=0.0, pslow=0.0, pdrop=0.0, slow_seconds=3.0, seed=0,
                 refuse_n: int | None = None):
        self.upstream, self.refuse_n = upstream.rstrip("/"), refuse_n
        self.p = [("429", p429), ("500", p500), ("slow", pslow), ("drop", pdrop)]
        self.slow_seconds = slow_seconds
        self.rng = random.Random(seed)
        self.counts: Counter = Counter()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _pick(self) -> str:
        r, acc = self.rng.random(), 0.0
        for name, prob in self.p:
            acc += prob
            if r < acc:
                return name
        return "ok"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
            body = await reader.readexactly(length) if length else b""
            fault = "n" if self.refuse_n and json.loads(body or b"{}").get("n", 1) != 1 else self._pick()
            self.counts[fault] += 1
            if fault == "drop":
                writer.transport.abort()
                return
            if fault in ("429", "500", "n"):
                msg = b'{"error": {"message": "%s"}}' % (b"Only one completion choice is allowed" if fault == "n"
                                                        else b"injected fault")
                status = {"429": "429 Too Many Requests\r\nRetry-After: 0", "500": "500 Internal Server Error",
                          "n": f"{self.refuse_n} Refused"}[fault]
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(msg)}"
                             f"\r\nConnection: close\r\n\r\n".encode() + msg)
                await writer.drain()
                writer.close()
                return
            if fault == "slow":
                await asyncio.sleep(self.slow_seconds)
            keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
            async with httpx.AsyncClient(timeout=120) as client:
                resp = await client.request(method, self.upstream + path, content=body, headers=keep)
            self.counts["forwarded"] += 1
            data = resp.content
            writer.write(f"HTTP/1.1 {resp.status_code} OK\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
            writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()
        try:
            self._loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)


class RlaifServer:
    """``rlaif serve`` in a subprocess on 127.0.0.1 (a free port): the embedded judge, or with
    ``scripted=True`` the controlled ScriptedJudge (``scripted_cli.py``); stopped on ``close``."""

    def __init__(self, data_dir, *args: str, scripted: bool = False, delay: float = 0.0):
        import os
        from pathlib import Path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = str(data_dir)
        entry = [str(Path(__file__).resolve().parent / "scripted_cli.py")] if scripted else ["-m", "rlaif"]
        env = {**os.environ, "RLAIF_TEST_DELAY": str(delay)}
        self.log = open(Path(data_dir) / "server.log", "w")
        self.proc = subprocess.Popen([sys.executable, *entry, "serve", "--port", str(self.port), "--data-dir",
                                      self.data_dir, *args], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_until_up(self, self.url + "/healthz", "rlaif serve", log=Path(data_dir, "server.log"))

    def close(self) -> None:
        stop(self.proc, 30)  # SIGTERM: a graceful shutdown (the running job checkpoints)
        self.log.close()


def add_key(data_dir, name: str, role: str | None = None) -> str:
    """A new API key through the real CLI (``rlaif keys add``, ``--role ROLE`` when given)."""
    res = keys_cli(data_dir, "add", name, *(("--role", role) if role else ()))
    return res.stdout.strip()


def keys_cli(data_dir, *args: str) -> subprocess.CompletedProcess:
    """``rlaif keys ARGS --data-dir DATA`` through the real CLI; fails the test if it fails."""
    return subprocess.run([sys.executable, "-m", "rlaif", "keys", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, check=True)
