// Drives `sena mcp --http` with the official TypeScript MCP SDK over
// streamable HTTP, as an agent would: a small investigation of a tiny random
// Llama built in the kernel, through the tools a remote agent needs.
//
// Usage: node client.mjs URL   (the bearer token in $SENA_MCP_TOKEN)
// Prints one JSON line with the notebook path on success; exits non-zero
// with a message on the first failed check.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url] = process.argv.slice(2);
const token = process.env.SENA_MCP_TOKEN;

function check(cond, what, res) {
  if (!cond) {
    console.error(`FAILED: ${what}\n${res ? texts(res) : ""}`);
    process.exit(1);
  }
}
const texts = (res) => (res.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
function cellOf(res) {
  const m = texts(res).match(/cell (\d+) \(id ([0-9a-f]{8})\)/);
  check(m, "the result names its cell by index and id", res);
  return [Number(m[1]), m[2]];
}

// A wrong token is refused before any tool runs.
const denied = await fetch(url, { method: "POST", headers: { Authorization: "Bearer wrong", "Content-Type": "application/json" }, body: "{}" });
check(denied.status === 401, `a wrong bearer token got HTTP ${denied.status}`);

const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
const client = new Client({ name: "sena-ts-e2e", version: "1.0.0" });
await client.connect(transport);
const call = (name, args) => client.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });

const { tools } = await client.listTools();
check(tools.length === 24, `${tools.length} tools listed`);

let res = await call("start_session", {});
check(!res.isError, "start_session", res);
const sid = res.structuredContent.session_id;
const nb = res.structuredContent.notebook_path;
const run = (code) => call("execute_code", { session_id: sid, code, timeout: 300 });

res = await run("import torch\nfrom transformers import LlamaConfig, LlamaForCausalLM\n" +
  "model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)).eval()");
check(!res.isError && texts(res).startsWith("[ok]"), "load a tiny Llama", res);
res = await call("describe_model", { session_id: sid });
check(!res.isError && texts(res).includes("layers.0-1: LlamaDecoderLayer ×2"), "describe_model", res);
res = await call("list_variables", { session_id: sid });
check(!res.isError && texts(res).includes("model: transformers.LlamaForCausalLM"), "list_variables", res);
res = await call("gpu_status", { session_id: sid });
check(!res.isError && texts(res).includes("host memory"), "gpu_status", res);

// An error report names the cell; the fix goes there.
res = await run("acts = model.model.embed_tokens(torch.arange(4))\nprint(act.shape)");
check(texts(res).includes("[error: NameError]"), "a bug is an error result", res);
const [badIndex, badID] = cellOf(res);
res = await call("edit_cell", { session_id: sid, cell: badID, source: "acts = model.model.embed_tokens(torch.arange(4))\nprint(tuple(acts.shape))" });
check(!res.isError && texts(res).includes("(4, 16)") && cellOf(res)[1] === badID && cellOf(res)[0] === badIndex, "edit_cell by id", res);
res = await call("insert_cell", { session_id: sid, source: "## Embeddings", cell_type: "markdown", before: badID });
check(!res.isError, "insert_cell", res);
const [, mdID] = cellOf(res);
res = await call("move_cell", { session_id: sid, cell: mdID, after: -1 });
check(!res.isError, "move_cell", res);
res = await call("run_cell", { session_id: sid, cell: badID });
check(!res.isError && texts(res).includes("(4, 16)"), "run_cell", res);
res = await call("delete_cell", { session_id: sid, cell: mdID });
check(!res.isError, "delete_cell", res);
res = await call("delete_cell", { session_id: sid, cell: 999 });
check(res.isError && texts(res).includes("out of range"), "an out-of-range index is a tool error", res);

// 1 MB of output, paged back over HTTP.
res = await run("print('0123456789' * 100_000)");
const m = texts(res).match(/read_output\(cell="([0-9a-f]{8})", output=(\d+), offset=(\d+)\)/);
check(m && texts(res).length < 21000, "a 1 MB print is cut with a read_output call", res);
let whole = "", offset = 0;
for (;;) {
  const page = await call("read_output", { session_id: sid, cell: m[1], output: Number(m[2]), offset });
  check(!page.isError, "read_output", page);
  const [head, ...rest] = texts(page).split("\n");
  const h = head.match(/characters (\d+) to (\d+) of (\d+)/);
  const end = Number(h[2]), total = Number(h[3]);
  whole += rest.join("\n").slice(0, end - offset);
  offset = end;
  if (end >= total) break;
}
check(whole === "0123456789".repeat(100_000) + "\n", `paged output differs (${whole.length} characters)`);
const resource = await client.readResource({ uri: `sena://sessions/${sid}/cells/${m[1]}/outputs/${m[2]}` });
check(resource.contents[0].text.length === 1_000_001, "the output as a resource");

// A file a cell writes, read from another machine's point of view.
res = await run("import json\njson.dump({'shape': list(acts.shape)}, open('acts.json', 'w'))");
check(!res.isError, "a cell writes a file", res);
res = await call("read_file", { session_id: sid, path: "acts.json" });
check(!res.isError && texts(res).includes('{"shape": [4, 16]}'), "read_file", res);
res = await call("write_file", { session_id: sid, path: "notes/plan.md", content: "probe layer 1\n" });
check(!res.isError, "write_file", res);
res = await call("list_files", { session_id: sid, path: "notes" });
check(!res.isError && texts(res).includes("plan.md"), "list_files", res);
res = await call("install_packages", { session_id: sid, requirements: ["./nowhere-1.0-py3-none-any.whl"] });
check(res.isError && texts(res).includes("pip exited with status"), "install_packages of a missing wheel says what pip said", res);

// The kernel dies mid-cell.
res = await run("import os, time\nprint('bye', flush=True)\ntime.sleep(0.5)\nos._exit(1)");
check(!res.isError && texts(res).includes("[kernel died") && texts(res).includes("KernelDied"), "kernel death", res);
res = await run("print('model' in globals())");
check(texts(res).includes("[note: the kernel restarted") && texts(res).includes("False"), "the next call says the kernel is fresh", res);

res = await call("shutdown_session", { session_id: sid });
check(!res.isError && res.structuredContent.stopped === "sandbox", "shutdown_session", res);
res = await run("1");
check(res.isError && texts(res).includes("is stopped"), "a stopped session says so", res);
await client.close();
console.log(JSON.stringify({ notebook_path: nb }));
