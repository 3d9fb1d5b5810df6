"""Python baselines for sena-bench: the clients a user would pick instead of Sena's.

Each subcommand runs once, times only the work (interpreter start and imports
excluded, as the Go side excludes its own start) and prints one JSON line.

  rtt      N executions of `1+1`, one at a time; per-execution seconds
  stream   one execution printing a large output; bytes of text and seconds
  download snapshot_download into a fresh cache, then again (cached)

Kernel clients: --conn FILE is jupyter_client's BlockingKernelClient over ZMQ
(the kernel's connection file), --ws URL talks to the same kernel through
jupyter_server's websocket (the path Sena's client takes) with tornado. The
Jupyter token comes from $BENCH_JUPYTER_TOKEN, never argv.
"""
import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid


class ZMQClient:
    """jupyter_client's BlockingKernelClient on the kernel's connection file."""

    def __init__(self, conn_file):
        from jupyter_client import BlockingKernelClient

        self.kc = BlockingKernelClient(connection_file=conn_file)
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def execute(self, code, on_text):
        def hook(msg):
            if msg["msg_type"] == "stream":
                on_text(msg["content"]["text"])

        reply = self.kc.execute_interactive(code, store_history=False, output_hook=hook, timeout=600)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(reply["content"])

    def close(self):
        self.kc.stop_channels()


class WSClient:
    """The legacy JSON websocket of jupyter_server, through tornado."""

    def __init__(self, url, kernel):
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # tornado binds its futures to the current loop
        self.session = uuid.uuid4().hex
        ws_url = url.replace("http", "ws", 1).rstrip("/") + f"/api/kernels/{kernel}/channels?session_id={self.session}"
        req = HTTPRequest(ws_url, headers={"Authorization": "token " + os.environ["BENCH_JUPYTER_TOKEN"]})

        async def connect():
            return await websocket_connect(req, max_message_size=1 << 30)

        self.ws = self.loop.run_until_complete(connect())

    def execute(self, code, on_text):
        self.loop.run_until_complete(self._execute(code, on_text))

    async def _execute(self, code, on_text):
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": "bench", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }))
        replied = idle = False
        while not (replied and idle):
            raw = await self.ws.read_message()
            if raw is None:
                raise RuntimeError("websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                on_text(msg["content"]["text"])
            elif kind == "execute_reply":
                if msg["content"]["status"] != "ok":
                    raise RuntimeError(msg["content"])
                replied = True
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True

    def close(self):
        self.ws.close()
        self.loop.close()


def client(args):
    if args.conn:
        return ZMQClient(args.conn)
    return WSClient(args.ws, args.kernel)


def rtt(args):
    c = client(args)
    for _ in range(args.warmup):
        c.execute("1+1", lambda t: None)
    times = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        c.execute("1+1", lambda t: None)
        times.append(time.perf_counter() - t0)
    c.close()
    return {"seconds": times}


def stream(args):
    c = client(args)
    c.execute("1+1", lambda t: None)
    got = [0]

    def on_text(t):
        got[0] += len(t)

    t0 = time.perf_counter()
    c.execute(f"for _ in range({args.lines}):\n    print('x'*99)", on_text)
    secs = time.perf_counter() - t0
    c.close()
    return {"bytes": got[0], "seconds": secs, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def download(args):
    from huggingface_hub import snapshot_download

    t0 = time.perf_counter()
    path = snapshot_download(args.repo, cache_dir=args.cache)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = snapshot_download(args.repo, cache_dir=args.cache)
    cached = time.perf_counter() - t0
    if again != path:
        raise RuntimeError(f"cached call returned {again}, first {path}")
    return {"seconds": first, "cached_seconds": cached, "path": path}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["rtt", "stream", "download"])
    p.add_argument("--conn", help="kernel connection file (jupyter_client over ZMQ)")
    p.add_argument("--ws", help="jupyter_server base URL (websocket)")
    p.add_argument("--kernel", help="kernel id, with --ws")
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--lines", type=int, default=500_000)
    p.add_argument("--repo")
    p.add_argument("--cache")
    args = p.parse_args()
    out = {"rtt": rtt, "stream": stream, "download": download}[args.op](args)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
