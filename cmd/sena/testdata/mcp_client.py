"""Drives `sena mcp` with the official Python MCP SDK, as an agent would: a
small investigation of a tiny random Llama through every tool.

Usage: mcp_client.py SENA_BINARY STATE_DIR PYTHON MODEL
Prints one JSON line with the notebook path on success; exits non-zero with a
message on the first failed check. HF_ENDPOINT and HF_HUB_CACHE are passed
on to the server (the test's own hub serves MODEL).
"""
import asyncio
import base64
import io
import json
import os
import re
import sys
import zipfile

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sena, state_dir, python, model = sys.argv[1:5]

TOOLS = ["start_session", "attach_to_session", "list_sessions", "shutdown_session", "list_skills",
         "execute_code", "edit_cell", "insert_cell", "delete_cell", "move_cell", "run_cell", "add_markdown",
         "get_notebook_outputs", "read_output", "interrupt_kernel", "restart_kernel",
         "list_variables", "gpu_status", "describe_model", "install_packages",
         "list_files", "read_file", "write_file", "list_libraries"]


def field(obj, snake, camel):
    """Reads a field by its mcp 2.x (snake_case) or 1.x (camelCase) name."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def failed(res):
    return field(res, "is_error", "isError")


def data(res):
    return field(res, "structured_content", "structuredContent")


def texts(res):
    return "\n".join(c.text for c in res.content if c.type == "text")


def check(cond, what, res=None):
    if not cond:
        raise SystemExit(f"FAILED: {what}\n{texts(res) if res is not None and hasattr(res, 'content') else res or ''}")


def cell_of(res):
    """The cell a status line names: (index, id)."""
    m = re.search(r"cell (\d+) \(id ([0-9a-f]{8})\)", texts(res))
    check(m, "the result names its cell by index and id", res)
    return int(m.group(1)), m.group(2)


def wheel(name, version, code):
    buf = io.BytesIO()
    info = f"{name}-{version}.dist-info/"
    files = {f"{name}/__init__.py": code,
             info + "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             info + "WHEEL": "Wheel-Version: 1.0\nGenerator: sena-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(buf, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(info + "RECORD", "".join(f"{p},,\n" for p in files) + info + "RECORD,,\n")
    return buf.getvalue()


async def main():
    env = {"SENA_PYTHON": python, "PATH": "/usr/bin:/bin"}
    for k in ("HF_ENDPOINT", "HF_HUB_CACHE", "HOME"):
        if k in os.environ:
            env[k] = os.environ[k]
    params = StdioServerParameters(command=sena, args=["--state-dir", state_dir, "mcp"], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            tools = {t.name: t for t in (await s.list_tools()).tools}
            for name in TOOLS:
                check(name in tools, f"tool {name} listed")
            check(len(tools) == len(TOOLS), f"{len(tools)} tools, want {len(TOOLS)}: {sorted(tools)}")
            props = field(tools["edit_cell"], "input_schema", "inputSchema")["properties"]
            check("cell" in props and "cell_index" not in props, "edit_cell takes cell (id or index), not a code-cell index")

            res = await s.call_tool("start_session", {"models": [model], "preload": True, "dtype": "float32"})
            check(not failed(res), "start_session", res)
            info = data(res)
            sid, nb = info["session_id"], info["notebook_path"]
            check("\\u003c" not in texts(res), "start_session text is not HTML-escaped JSON", res)

            async def run(code, **kw):
                return await s.call_tool("execute_code", {"session_id": sid, "code": code, **kw})

            # Look before touching: the model, the variables, the hardware.
            res = await s.call_tool("describe_model", {"session_id": sid})
            t = texts(res)
            check(not failed(res) and "LlamaForCausalLM" in t and "layers.0-1: LlamaDecoderLayer ×2" in t
                  and "tokenizer (tokenizer):" in t and "hook points: decoder layers model.model.layers[0..1]" in t, "describe_model", res)
            res = await s.call_tool("list_variables", {"session_id": sid})
            check(not failed(res) and "model: transformers.LlamaForCausalLM" in texts(res) and "tokenizer:" in texts(res), "list_variables", res)
            res = await s.call_tool("gpu_status", {"session_id": sid})
            check(not failed(res) and ("no GPU" in texts(res) or "GPU 0:" in texts(res)), "gpu_status", res)

            res = await s.call_tool("add_markdown", {"session_id": sid, "content": "# Residual norms\nHypothesis: the norm grows with depth."})
            check(not failed(res) and data(res)["cell_id"], "add_markdown", res)

            # A hook with a bug; the fix goes into the cell the error report names.
            res = await run("import torch\nnorms = {}\n"
                            "hooks = [l.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, out[0].norm().item()))\n"
                            "         for i, l in enumerate(model.model.layers)]\n"
                            "with torch.no_grad():\n    model(**tokenizer('hello world', return_tensors='pt'))\n"
                            "for h in hooks: h.remove()\nprint({k: round(v, 3) for k, v in sorted(norm.items())})")
            check(not failed(res) and "[error: NameError]" in texts(res), "a bug is an error result", res)
            bad_index, bad_id = cell_of(res)
            res = await run("print('a cell after the bad one')")
            after_index, after_id = cell_of(res)
            res = await s.call_tool("edit_cell", {"session_id": sid, "cell": bad_id, "source":
                                    "import torch\nnorms = {}\n"
                                    "hooks = [l.register_forward_hook(lambda m, a, out, i=i: norms.__setitem__(i, (out[0] if isinstance(out, tuple) else out).norm().item()))\n"
                                    "         for i, l in enumerate(model.model.layers)]\n"
                                    "with torch.no_grad():\n    model(**tokenizer('hello world', return_tensors='pt'))\n"
                                    "for h in hooks: h.remove()\nprint(sorted(norms))"})
            check(not failed(res) and "[ok]" in texts(res) and "[0, 1]" in texts(res) and cell_of(res) == (bad_index, bad_id), "edit_cell fixes the cell the error named", res)
            res = await s.call_tool("get_notebook_outputs", {"session_id": sid, "start": after_index, "end": after_index + 1})
            check(after_id in texts(res) and "a cell after the bad one" in texts(res), "the next cell is untouched", res)

            # Reshape the notebook: a setup cell above, a scratch cell deleted, one moved, one re-run.
            res = await s.call_tool("insert_cell", {"session_id": sid, "source": "prompt = 'The Eiffel Tower is in'", "before": bad_id, "run": True})
            check(not failed(res) and "[ok]" in texts(res), "insert_cell runs a setup cell", res)
            setup_index, setup_id = cell_of(res)
            check(setup_index == bad_index, "the inserted cell takes the index before the cell it precedes", res)
            res = await s.call_tool("insert_cell", {"session_id": sid, "source": "## Setup", "cell_type": "markdown", "before": setup_id})
            check(not failed(res), "insert_cell markdown", res)
            _, md_id = cell_of(res)
            res = await s.call_tool("move_cell", {"session_id": sid, "cell": md_id, "after": -1})
            check(not failed(res) and "[moved]" in texts(res), "move_cell", res)
            res = await s.call_tool("delete_cell", {"session_id": sid, "cell": after_id})
            check(not failed(res) and "[deleted]" in texts(res), "delete_cell", res)
            res = await s.call_tool("run_cell", {"session_id": sid, "cell": bad_id})
            check(not failed(res) and "[0, 1]" in texts(res), "run_cell", res)
            res = await s.call_tool("edit_cell", {"session_id": sid, "cell": "nope1234", "source": "1"})
            check(failed(res) and "no cell has id" in texts(res), "an unknown cell id is a tool error", res)

            # 1 MB of output: the result is cut, read_output pages through all of it.
            res = await run("print(''.join(chr(97 + i % 26) for i in range(1_000_000)))")
            t = texts(res)
            check(len(t) < 21000, f"a 1 MB print came back as {len(t)} characters", res)
            m = re.search(r'read_output\(cell="([0-9a-f]{8})", output=(\d+), offset=(\d+)\)', t)
            check(m, "the cut marker says how to read on", res)
            cid, out = m.group(1), int(m.group(2))
            whole, offset, pages = [], 0, 0
            while True:
                page = await s.call_tool("read_output", {"session_id": sid, "cell": cid, "output": out, "offset": offset})
                check(not failed(page), "read_output page", page)
                body = texts(page)
                head, _, rest = body.partition("\n")
                mm = re.search(r"characters (\d+) to (\d+) of (\d+)", head)
                check(mm and int(mm.group(1)) == offset, "read_output header", page)
                end, total = int(mm.group(2)), int(mm.group(3))
                whole.append(rest[: end - offset])
                offset, pages = end, pages + 1
                if end >= total:
                    break
            want = "".join(chr(97 + i % 26) for i in range(1_000_000)) + "\n"
            check("".join(whole) == want, f"paged output differs ({pages} pages, {len(''.join(whole))} characters)")

            # Files: one a cell writes, one the agent writes.
            res = await run("import json, os\nos.makedirs('results', exist_ok=True)\njson.dump({'layers': sorted(norms)}, open('results/norms.json', 'w'))")
            check(not failed(res) and "[ok]" in texts(res), "a cell writes a file", res)
            res = await s.call_tool("list_files", {"session_id": sid, "path": "results"})
            check(not failed(res) and "norms.json" in texts(res), "list_files", res)
            res = await s.call_tool("read_file", {"session_id": sid, "path": "results/norms.json"})
            check(not failed(res) and '{"layers": [0, 1]}' in texts(res), "read_file of a file a cell wrote", res)
            res = await s.call_tool("write_file", {"session_id": sid, "path": "probe.py", "content": "def answer():\n    return 42\n"})
            check(not failed(res), "write_file", res)
            res = await run("import probe; print(probe.answer())")
            check("42" in texts(res), "the kernel imports the written file", res)
            res = await s.call_tool("read_file", {"session_id": sid, "path": "../etc/passwd"})
            check(failed(res) and "work dir" in texts(res), "paths stay in the work dir", res)

            # A package installed while the session runs.
            whl = "senae2e-1.0-py3-none-any.whl"
            res = await s.call_tool("write_file", {"session_id": sid, "path": whl, "encoding": "base64",
                                                   "content": base64.b64encode(wheel("senae2e", "1.0", "GREETING = 'installed'\n")).decode()})
            check(not failed(res), "write the wheel", res)
            res = await s.call_tool("install_packages", {"session_id": sid, "requirements": ["./" + whl]})
            check(not failed(res) and "installed senae2e-1.0" in texts(res), "install_packages", res)
            res = await run("import senae2e; print(senae2e.GREETING)")
            check("installed" in texts(res), "the installed package imports", res)

            # Interrupt a sleeping cell from a second task; a timeout interrupts too.
            sleeper = asyncio.create_task(run("import time\ntime.sleep(120)"))
            for _ in range(30):
                await asyncio.sleep(1)
                if sleeper.done():
                    break
                r = await s.call_tool("interrupt_kernel", {"session_id": sid})
                check(not failed(r), "interrupt_kernel", r)
            res = await asyncio.wait_for(sleeper, 30)
            check(not failed(res) and "KeyboardInterrupt" in texts(res), "interrupted sleep", res)
            res = await run("import time\ntime.sleep(120)", timeout=2)
            check(not failed(res) and "[interrupted after" in texts(res), "timeout interrupts", res)

            # The kernel dies mid-cell: the cell says so, and so does the next call.
            res = await run("import os, time\nprint('about to die', flush=True)\ntime.sleep(0.5)\nos._exit(9)")
            check(not failed(res) and "[kernel died" in texts(res) and "KernelDied" in texts(res) and "about to die" in texts(res), "kernel death", res)
            _, died_id = cell_of(res)
            res = await run("print('model' in globals())")
            check("[note: the kernel restarted" in texts(res) and "False" in texts(res), "the next call says the kernel is fresh", res)
            res = await s.call_tool("restart_kernel", {"session_id": sid})
            check(not failed(res), "restart_kernel", res)

            # Resources: the notebook and one output, fetched lazily.
            templates = field(await s.list_resource_templates(), "resource_templates", "resourceTemplates")
            check(len(templates) == 2, f"resource templates: {templates}")
            r = await s.read_resource(f"sena://sessions/{sid}/notebook")
            check('"nbformat": 4' in r.contents[0].text and died_id in r.contents[0].text, "the notebook resource")
            r = await s.read_resource(f"sena://sessions/{sid}/cells/{cid}/outputs/{out}")
            check(r.contents[0].text == want, "an output resource holds the whole output")

            res = await s.call_tool("list_skills", {"session_id": sid})
            check(not failed(res) and "\\u003c" not in texts(res), "list_skills text is not HTML-escaped", res)
            res = await s.call_tool("attach_to_session", {"session_id": sid})
            check(not failed(res) and data(res)["installed_packages"] == ["./" + whl], "attach_to_session", res)
            res = await s.call_tool("list_sessions", {})
            check(not failed(res) and any(x["session_id"] == sid and x["attached"] for x in data(res)["sessions"]), "list_sessions", res)

            res = await s.call_tool("shutdown_session", {"session_id": sid})
            check(not failed(res) and data(res)["stopped"] == "sandbox", "shutdown_session", res)
            res = await run("1")
            check(failed(res) and "is stopped" in texts(res), "a stopped session says so", res)
            res = await s.call_tool("get_notebook_outputs", {"session_id": sid})
            check(not failed(res) and "Residual norms" in texts(res), "the notebook outlives the session", res)
            print(json.dumps({"notebook_path": nb}))


asyncio.run(main())
