"""Runs one agent-like script against Sena's MCP server and datalayer's
jupyter-mcp-server, through the official Python MCP SDK over stdio, and
prints a Markdown table of result sizes and latencies (docs/mcp.md).

Both get the same work on the same machine, interleaved run by run so load
from elsewhere hits both alike: load a tiny random Llama, hook its
activations, print 1 MB, plot, fix a cell that raised, look at the model, the
variables and the GPU, read the notebook back. Each server does each step
with the tools it has; where it has no tool (model structure, variables,
GPU), the step is what an agent does instead: print(model), %whos,
!nvidia-smi in a cell.

Usage (from the repository root; see docs/mcp.md for the setup):

  go build -o /tmp/sena ./cmd/sena
  python3 -m venv --system-site-packages /tmp/jmcp
  /tmp/jmcp/bin/pip install jupyter-mcp-server==2.2.4 jupyterlab jupyter-collaboration
  /tmp/jmcp/bin/python bench/mcp/compare.py --sena /tmp/sena --peer-venv /tmp/jmcp --runs 3

The kernels of both run the same interpreter (--python, default python3,
which needs torch and transformers). Everything started is stopped at the end.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

LOAD = ("import torch\nfrom transformers import LlamaConfig, LlamaForCausalLM\n"
        "torch.manual_seed(0)\n"
        "model = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=4,\n"
        "                                      num_attention_heads=4, num_key_value_heads=2)).eval()\n"
        "print(sum(p.numel() for p in model.parameters()))")
HOOK = ("norms = {}\n"
        "hooks = [l.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, round((out[0] if isinstance(out, tuple) else out).norm().item(), 3)))\n"
        "         for i, l in enumerate(model.model.layers)]\n"
        "with torch.no_grad():\n    model(torch.arange(16)[None])\n"
        "for h in hooks: h.remove()\nprint(norms)")
BIG = "print('x' * 1_000_000)"
PLOT = ("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n%matplotlib inline\n"
        "plt.figure(figsize=(15.97, 8.13), dpi=100)\nplt.plot(list(norms.values()), marker='o'); plt.title('residual norm by layer'); plt.show()")
BAD = "steered = model.model.layers[1](hidden_states)\nprint(steered.shape)"
FIX = "hidden_states = torch.randn(1, 8, 64)\nprint(model.model.layers[1].mlp(hidden_states).shape)"

STEPS = ["1+1 (median of 10)", "load a tiny Llama", "hook activations", "print 1 MB", "plot (inline backend)",
         "raise an error", "fix that cell", "model structure", "variables", "GPU status", "list files", "read the notebook back"]


def texts(res):
    return "\n".join(c.text for c in res.content if c.type == "text")


def size(res):
    """Characters of text and bytes of images (decoded) in a result."""
    import base64
    chars = sum(len(c.text) for c in res.content if c.type == "text")
    img = sum(len(base64.b64decode(c.data)) for c in res.content if c.type == "image")
    return chars, img


class Agent:
    """One server driven through the SDK; subclasses map steps to tools."""

    def __init__(self, session):
        self.s = session
        self.calls = []

    async def call(self, tool, args):
        t = time.perf_counter()
        res = await self.s.call_tool(tool, args)
        dt = time.perf_counter() - t
        return res, dt

    async def timed(self, *calls):
        """Runs calls one after another; their latencies and sizes add up."""
        total, chars, img, last = 0.0, 0, 0, None
        for tool, args in calls:
            res, dt = await self.call(tool, args)
            if (res.isError if hasattr(res, "isError") else res.is_error) and tool not in ("describe_model",):
                raise SystemExit(f"{type(self).__name__} {tool} failed: {texts(res)[:2000]}")
            c, i = size(res)
            total, chars, img, last = total + dt, chars + c, img + i, res
        return total, chars, img, last


class Sena(Agent):
    async def start(self):
        res, dt = await self.call("start_session", {})
        self.sid = res.structured_content["session_id"] if hasattr(res, "structured_content") else res.structuredContent["session_id"]
        return dt

    def run(self, code):
        return ("execute_code", {"session_id": self.sid, "code": code, "timeout": 300})

    async def step(self, name):
        sid = self.sid
        if name == "fix that cell":
            m = re.search(r"\(id ([0-9a-f]{8})\)", texts(self.last_error))
            return await self.timed(("edit_cell", {"session_id": sid, "cell": m.group(1), "source": FIX}))
        if name == "model structure":
            return await self.timed(("describe_model", {"session_id": sid}))
        if name == "variables":
            return await self.timed(("list_variables", {"session_id": sid}))
        if name == "GPU status":
            return await self.timed(("gpu_status", {"session_id": sid}))
        if name == "list files":
            return await self.timed(("list_files", {"session_id": sid}))
        if name == "read the notebook back":
            return await self.timed(("get_notebook_outputs", {"session_id": sid}))
        return await self.timed(self.run(CODE[name]))

    async def stop(self):
        await self.call("shutdown_session", {"session_id": self.sid})


class Peer(Agent):
    async def start(self):
        Peer.runs = getattr(Peer, "runs", 0) + 1
        self.nb = "bench-%d.ipynb" % Peer.runs
        res, dt = await self.call("use_notebook", {"notebook_name": "bench", "notebook_path": self.nb, "mode": "create"})
        if res.isError if hasattr(res, "isError") else res.is_error:
            raise SystemExit("peer use_notebook failed: " + texts(res))
        self.cells = 0
        return dt

    def run(self, code):
        self.cells += 1
        return ("insert_execute_code_cell", {"cell_index": -1, "cell_source": code, "timeout": 300})

    async def step(self, name):
        if name == "fix that cell":
            i = self.cells - 1  # the cell that raised: the last one appended
            return await self.timed(("overwrite_cell_source", {"cell_index": i, "cell_source": FIX}),
                                    ("execute_cell", {"cell_index": i, "timeout": 300}))
        if name == "model structure":
            return await self.timed(self.run("print(model)"))
        if name == "variables":
            return await self.timed(self.run("%whos"))
        if name == "GPU status":
            return await self.timed(self.run("!nvidia-smi"))
        if name == "list files":
            return await self.timed(("list_files", {}))
        if name == "read the notebook back":
            return await self.timed(("read_notebook", {"notebook_name": "bench", "response_format": "detailed"}))
        return await self.timed(self.run(CODE[name]))

    async def stop(self):
        await self.call("unuse_notebook", {"notebook_name": "bench"})


VERBOSE = False
CODE = {"load a tiny Llama": LOAD, "hook activations": HOOK, "print 1 MB": BIG, "plot (inline backend)": PLOT, "raise an error": BAD}


async def drive(kind, params, results):
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            tools = (await s.list_tools()).tools
            schema = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))
            results.setdefault("schema", (len(tools), schema))
            a = (Sena if kind == "sena" else Peer)(s)
            results.setdefault("start", []).append(await a.start())
            for name in STEPS:
                if name.startswith("1+1"):
                    samples = []
                    for _ in range(10):
                        dt, chars, img, _ = await a.timed(a.run("1+1"))
                        samples.append((dt, chars, img))
                    dt = statistics.median(x[0] for x in samples)
                    chars, img = samples[-1][1], samples[-1][2]
                else:
                    dt, chars, img, last = await a.step(name)
                    if name == "raise an error":
                        a.last_error = last
                    if VERBOSE:
                        t = texts(last)
                        print(f"--- {kind} {name} ({dt:.2f}s):\n{t[:600]}{' ...' if len(t) > 600 else ''}", file=sys.stderr)
                results.setdefault(name, []).append((dt, chars, img))
            await a.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sena", required=True, help="the sena binary")
    ap.add_argument("--peer-venv", required=True, help="a venv with jupyter-mcp-server, jupyterlab and jupyter-collaboration")
    ap.add_argument("--python", default=shutil.which("python3"), help="the kernels' interpreter (torch, transformers, matplotlib)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-v", action="store_true", help="print each result (cut to 600 characters) to stderr")
    args = ap.parse_args()
    global VERBOSE
    VERBOSE = args.v

    tmp = tempfile.mkdtemp(prefix="sena-mcp-bench-")
    token = os.urandom(16).hex()
    port = free_port()
    # The peer's kernels run the same interpreter as Sena's: a python3
    # kernelspec first on JUPYTER_PATH.
    spec = os.path.join(tmp, "jupyter", "kernels", "python3")
    os.makedirs(spec)
    json.dump({"argv": [args.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3", "language": "python"},
              open(os.path.join(spec, "kernel.json"), "w"))
    env = dict(os.environ, JUPYTER_TOKEN=token, JUPYTER_PATH=os.path.join(tmp, "jupyter"))
    root = os.path.join(tmp, "lab")
    os.makedirs(root)
    lab = subprocess.Popen([os.path.join(args.peer_venv, "bin", "python"), "-m", "jupyterlab", "--no-browser", "--allow-root",
                            f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
                            "--ServerApp.iopub_data_rate_limit=1e10"],
                           env=env, cwd=root, stdout=open(os.path.join(tmp, "lab.log"), "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import urllib.request
        for _ in range(120):
            try:
                urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": "token " + token}))
                break
            except Exception:
                time.sleep(0.5)
        state = os.path.join(tmp, "sena-state")
        sena = StdioServerParameters(command=args.sena, args=["--state-dir", state, "mcp"],
                                     env={"SENA_PYTHON": args.python, "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", tmp)})
        peer = StdioServerParameters(command=os.path.join(args.peer_venv, "bin", "jupyter-mcp-server"),
                                     args=["--jupyter-url", f"http://127.0.0.1:{port}", "--jupyter-token", token],
                                     env={"PATH": os.path.join(args.peer_venv, "bin") + ":" + os.environ["PATH"], "ALLOW_IMG_OUTPUT": "true",
                                          "HOME": os.environ.get("HOME", tmp)})
        results = {"sena": {}, "peer": {}}
        for run in range(args.runs):
            for kind, params in (("sena", sena), ("peer", peer)) if run % 2 == 0 else (("peer", peer), ("sena", sena)):
                t = time.time()
                asyncio.run(drive(kind, params, results[kind]))
                print(f"run {run + 1}/{args.runs} {kind}: {time.time() - t:.1f}s", file=sys.stderr)
        report(results, args.runs)
        json.dump(results, open(os.path.join(tempfile.gettempdir(), "sena-mcp-bench.json"), "w"))
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
        subprocess.run([args.sena, "--state-dir", os.path.join(tmp, "sena-state"), "down", "--all"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def fmt_size(chars, img):
    s = f"{chars:,}"
    if img:
        s += f" + {img / 1024:.0f} KiB image"
    return s


def fmt_ms(sec):
    return f"{sec * 1000:.0f} ms" if sec < 10 else f"{sec:.1f} s"


def report(results, runs):
    sena, peer = results["sena"], results["peer"]
    print(f"\n{runs} runs each; latency is the median over runs (for 1+1, of each run's median of 10); sizes are characters of text (+ image bytes) in the result.\n")
    print("| Step | Sena tool | Sena latency | Sena result | jupyter-mcp-server tool | its latency | its result |")
    print("|---|---|---|---|---|---|---|")
    stool = {"fix that cell": "edit_cell", "model structure": "describe_model", "variables": "list_variables", "GPU status": "gpu_status",
             "list files": "list_files", "read the notebook back": "get_notebook_outputs"}
    ptool = {"fix that cell": "overwrite_cell_source + execute_cell", "model structure": "print(model) in a cell", "variables": "%whos in a cell",
             "GPU status": "!nvidia-smi in a cell", "list files": "list_files", "read the notebook back": "read_notebook (detailed)"}
    for name in STEPS:
        s, p = sena[name], peer[name]
        sl, pl = statistics.median(x[0] for x in s), statistics.median(x[0] for x in p)
        print(f"| {name} | {stool.get(name, 'execute_code')} | {fmt_ms(sl)} | {fmt_size(*s[-1][1:])} | "
              f"{ptool.get(name, 'insert_execute_code_cell')} | {fmt_ms(pl)} | {fmt_size(*p[-1][1:])} |")
    print(f"| start | start_session | {fmt_ms(statistics.median(sena['start']))} | | use_notebook (create) | {fmt_ms(statistics.median(peer['start']))} | |")
    (sn, ss), (pn, ps) = sena["schema"], peer["schema"]
    print(f"| tools/list | {sn} tools | | {ss:,} | {pn} tools | | {ps:,} |")


if __name__ == "__main__":
    main()
