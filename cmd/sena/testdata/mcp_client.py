"""Drives `sena mcp` over stdio with the official Python MCP SDK, as an agent would.

Usage: mcp_client.py SENA_BINARY STATE_DIR PYTHON
Prints one JSON line with the notebook path on success; exits non-zero with a
message on the first failed check.
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sena, state_dir, python = sys.argv[1:4]


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
        raise SystemExit(f"FAILED: {what}\n{texts(res) if res is not None else ''}")


async def main():
    params = StdioServerParameters(command=sena, args=["--state-dir", state_dir, "mcp"], env={"SENA_PYTHON": python, "PATH": "/usr/bin:/bin"})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            tools = {t.name: t for t in (await s.list_tools()).tools}
            for name in ["start_session", "attach_to_session", "execute_code", "add_markdown", "edit_cell",
                         "get_notebook_outputs", "list_sessions", "interrupt_kernel", "restart_kernel",
                         "shutdown_session", "list_skills"]:
                check(name in tools, f"tool {name} listed")
            check("cell_index" in field(tools["edit_cell"], "input_schema", "inputSchema")["properties"], "edit_cell schema has cell_index")

            res = await s.call_tool("start_session", {})
            check(not failed(res), "start_session", res)
            info = data(res)
            sid, nb = info["session_id"], info["notebook_path"]

            res = await s.call_tool("execute_code", {"session_id": sid, "code": "print('hello from python client')"})
            check(not failed(res) and "hello from python client" in texts(res) and "[ok]" in texts(res), "print", res)

            res = await s.call_tool("execute_code", {"session_id": sid, "code":
                "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                "%matplotlib inline\nplt.plot([1, 3, 2])\nplt.show()"})
            imgs = [c for c in res.content if c.type == "image"]
            check(not failed(res) and len(imgs) == 1 and field(imgs[0], "mime_type", "mimeType") == "image/png", "one PNG image", res)
            import base64
            check(base64.b64decode(imgs[0].data).startswith(b"\x89PNG"), "image content is a PNG", res)

            res = await s.call_tool("execute_code", {"session_id": sid, "code": "raise ValueError('bad input')"})
            check(not failed(res) and "[error: ValueError]" in texts(res) and "bad input" in texts(res), "raise is a result", res)

            res = await s.call_tool("add_markdown", {"session_id": sid, "content": "# Notes\nThe plot rises then falls."})
            check(not failed(res) and data(res)["cell_number"] > 0, "add_markdown", res)

            res = await s.call_tool("edit_cell", {"session_id": sid, "code": "print('edited')", "cell_index": 0})
            check(not failed(res) and "edited" in texts(res), "edit_cell", res)

            res = await s.call_tool("get_notebook_outputs", {"session_id": sid})
            check(not failed(res) and "edited" in texts(res) and "# Notes" in texts(res) and "ValueError" in texts(res), "outputs", res)

            # Interrupt a sleeping cell from a second task.
            sleeper = asyncio.create_task(s.call_tool("execute_code", {"session_id": sid, "code": "import time\ntime.sleep(120)"}))
            for _ in range(30):
                await asyncio.sleep(1)
                if sleeper.done():
                    break
                r = await s.call_tool("interrupt_kernel", {"session_id": sid})
                check(not failed(r), "interrupt_kernel", r)
            res = await asyncio.wait_for(sleeper, 30)
            check(not failed(res) and "KeyboardInterrupt" in texts(res), "interrupted sleep", res)

            res = await s.call_tool("execute_code", {"session_id": sid, "code": "import time\ntime.sleep(120)", "timeout": 2})
            check(not failed(res) and "[interrupted after" in texts(res), "timeout interrupts", res)

            res = await s.call_tool("execute_code", {"session_id": "snope", "code": "1"})
            check(failed(res) and "unknown session" in texts(res), "unknown session is a tool error", res)

            res = await s.call_tool("list_sessions", {})
            check(not failed(res) and any(x["session_id"] == sid for x in data(res)["sessions"]), "list_sessions", res)

            res = await s.call_tool("shutdown_session", {"session_id": sid})
            check(not failed(res) and data(res)["stopped"] == "sandbox", "shutdown_session", res)
            print(json.dumps({"notebook_path": nb}))


asyncio.run(main())
