# Sena's notebook service, inside the sandbox's Jupyter server.
#
# Sena's launcher (core/jupyter.go) loads this module into every server it
# starts, on jupyter_server 1.x and 2.x alike. Sena's Go side edits the
# session's notebook only through it, so there is one live document:
#
#   - With real-time collaboration (jupyter-collaboration's
#     jupyter_server_ydoc loaded and enabled), every change goes into the
#     shared document (a Yjs room), which the open JupyterLab pages show at
#     once and the room saves to disk. Cells the researcher adds or runs in a
#     page are in that same document.
#   - Without it, changes are applied to the file on disk, read fresh under
#     a lock, so what a page saved stays; and a page's own save is merged
#     with what Sena wrote since the revision that page loaded (the
#     notebook's metadata.sena_revision), so neither side loses a cell.
#
# It also records the outputs of the cells Sena runs. The kernel traffic
# stays Sena's: its client sends the execute_request; this service only
# listens on the kernel's iopub channel, as the server's own activity
# watcher does, and writes the outputs of the executions it was told about
# into the document, within the cell's output limit (the rest goes to
# files under sena-outputs/). So a cell keeps recording when Sena's client
# goes away, and a page shows its outputs as they stream.
#
# Everything here runs on the server's event loop. A failure in this module
# must never take the server down: load() logs and gives up.

import asyncio
import base64
import contextlib
import contextvars
import copy
import hashlib
import inspect
import json
import os
import re
import time
import uuid
from collections import OrderedDict, deque

VERSION = 1
API = "sena/api/notebook"
SPILL_DIR = "sena-outputs"
REVISION_KEY = "sena_revision"

_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Set while this module saves through the contents manager, so its own
# saves are told apart from a page's.
_sena_saving = contextvars.ContextVar("sena_saving", default=False)
# Set while a task holds the service's lock for a path (a read in it must
# not wait for the lock again).
_sena_locked = contextvars.ContextVar("sena_locked", default=False)


async def _aw(x):
    if inspect.isawaitable(x):
        return await x
    return x


def _human(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000.0


def _nbytes(s):
    return len(s.encode("utf-8", "surrogatepass"))


def _cut_bytes(s, n):
    """The longest prefix of s that is at most n bytes of UTF-8."""
    if n <= 0:
        return ""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return s
    return b[:n].decode("utf-8", "ignore")


def _tail_bytes(s, n):
    if n <= 0:
        return ""
    b = s.encode("utf-8", "surrogatepass")
    if len(b) <= n:
        return s
    return b[len(b) - n :].decode("utf-8", "ignore")


def _join(text):
    return "".join(text) if isinstance(text, list) else (text or "")


def _norm_cell(cell):
    """A cell as nbformat JSON, with multiline fields joined."""
    cell = dict(cell)
    cell["source"] = _join(cell.get("source", ""))
    if cell.get("cell_type") == "code":
        outs = []
        for o in cell.get("outputs") or []:
            o = dict(o)
            if o.get("output_type") == "stream":
                o["text"] = _join(o.get("text", ""))
            outs.append(o)
        cell["outputs"] = outs
        cell.setdefault("execution_count", None)
    cell.setdefault("metadata", {})
    return cell


def _ints(o):
    """Yjs numbers come back as floats: integral ones become ints again."""
    if isinstance(o, dict):
        for k, v in o.items():
            if type(v) is float and v.is_integer():
                o[k] = int(v)
            elif isinstance(v, (dict, list)):
                _ints(v)
    elif isinstance(o, list):
        for i, v in enumerate(o):
            if type(v) is float and v.is_integer():
                o[i] = int(v)
            elif isinstance(v, (dict, list)):
                _ints(v)
    return o


class NotFound(Exception):
    pass


def _placeholder(cell):
    return (cell.get("cell_type") == "code" and not _join(cell.get("source")) and not cell.get("outputs")
            and cell.get("metadata") in ({}, {"trusted": True}))


def _revision(nb):
    try:
        return int(((nb or {}).get("metadata") or {}).get(REVISION_KEY) or 0)
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------
# Documents: the shared one (Yjs) and the file.


class FileDoc:
    """The notebook as the file on disk holds it. Every change is a
    read-modify-write under the service's lock for the path."""

    rtc = False

    def __init__(self, svc, path):
        self.svc, self.path = svc, path
        self.nb = None
        self.needs_save = False

    async def load(self):
        cm = self.svc.cm
        tok = _sena_locked.set(True)  # under the service's lock already
        try:
            model = await _aw(cm.get(self.path, content=True, type="notebook"))
        except Exception as e:
            if getattr(e, "status_code", None) == 404:
                raise NotFound(self.path) from e
            raise
        finally:
            _sena_locked.reset(tok)
        self.nb = json.loads(json.dumps(model["content"]))
        self.nb["cells"] = [_norm_cell(c) for c in self.nb.get("cells", [])]
        # Cells are named by id: one without a valid, unique id gets one
        # (as nbformat's upgrade to 4.5 does), saved at once.
        seen = set()
        for c in self.nb["cells"]:
            cid = c.get("id")
            if not isinstance(cid, str) or not _CELL_ID.match(cid) or cid in seen:
                c["id"] = cid = uuid.uuid4().hex[:8]
                self.needs_save = True
            seen.add(cid)
        if self.needs_save:
            self.nb["nbformat"], self.nb["nbformat_minor"] = 4, max(5, int(self.nb.get("nbformat_minor") or 0))
        return self

    def cells(self):
        return self.nb["cells"]

    def index(self, cell_id):
        for i, c in enumerate(self.nb["cells"]):
            if c.get("id") == cell_id:
                return i
        return -1

    def insert(self, i, cell):
        self.nb["cells"].insert(i, _norm_cell(cell))

    def delete(self, i):
        del self.nb["cells"][i]

    def move(self, i, j):
        c = self.nb["cells"].pop(i)
        self.nb["cells"].insert(j, c)

    def replace(self, i, cell):
        self.nb["cells"][i] = _norm_cell(cell)

    def set_fields(self, i, fields):
        c = self.nb["cells"][i]
        for k, v in fields.items():
            c[k] = copy.deepcopy(v)
        self.nb["cells"][i] = _norm_cell(c)

    def count(self):
        return len(self.nb["cells"])

    def transaction(self):
        return contextlib.nullcontext()

    def set_outputs(self, i, outputs, state):
        self.nb["cells"][i]["outputs"] = copy.deepcopy(_clean(outputs))
        return None

    def set_running(self, i, running):
        pass  # a file has no execution state

    def set_metadata(self, set_, delete):
        md = self.nb.setdefault("metadata", {})
        for k in delete:
            md.pop(k, None)
        md.update(copy.deepcopy(set_))

    def snapshot(self):
        return self.nb

    async def save(self, touched=()):
        await self.svc.save_file(self.path, self.nb, touched)


class YDoc:
    """The shared document of a Yjs room: changes reach every page at once."""

    rtc = True
    needs_save = False

    def __init__(self, svc, path, ynb):
        self.svc, self.path, self.ynb = svc, path, ynb

    async def load(self):
        return self

    def count(self):
        return len(self.ynb.ycells)

    def transaction(self):
        return self.ynb.ydoc.transaction()

    def cells(self):
        return [self.get(i) for i in range(len(self.ynb.ycells))]

    def get(self, i):
        return _ints(self.ynb.get_cell(i))

    def index(self, cell_id):
        yc = self.ynb.ycells
        for i in range(len(yc)):
            if yc[i].get("id") == cell_id:
                return i
        return -1

    def insert(self, i, cell):
        self.ynb.ycells.insert(i, self.ynb.create_ycell(_norm_cell(cell)))

    def delete(self, i):
        del self.ynb.ycells[i]

    def move(self, i, j):
        # jupyter_ydoc moves by delete and insert too (Yjs 13 has no move).
        c = self.get(i)
        with self.ynb.ydoc.transaction():
            del self.ynb.ycells[i]
            self.ynb.ycells.insert(j, self.ynb.create_ycell(c))

    def replace(self, i, cell):
        with self.ynb.ydoc.transaction():
            del self.ynb.ycells[i]
            self.ynb.ycells.insert(i, self.ynb.create_ycell(_norm_cell(cell)))

    def set_fields(self, i, fields):
        from pycrdt import Map

        fields = dict(fields)
        ycell = self.ynb.ycells[i]
        if "cell_type" in fields and fields["cell_type"] != ycell.get("cell_type"):
            c = self.get(i)
            c.update(fields)
            self.replace(i, c)
            return
        fields.pop("cell_type", None)
        with self.ynb.ydoc.transaction():
            if "source" in fields:
                self.ynb.set_cell(i, source=_join(fields.pop("source")))
            if "outputs" in fields:
                self.set_outputs(i, fields.pop("outputs"), None)
            if "metadata" in fields:
                md = ycell.get("metadata")
                value = copy.deepcopy(fields.pop("metadata") or {})
                if isinstance(md, Map):
                    md.clear()
                    md.update(value)
                else:
                    ycell["metadata"] = Map(value)
            for k, v in fields.items():
                ycell[k] = copy.deepcopy(v)

    @staticmethod
    def _youtput(o):
        from pycrdt import Map, Text

        o = copy.deepcopy(o)
        if o.get("output_type") == "stream":
            o["text"] = Text(_join(o.get("text", "")))
        return Map(o)

    def set_outputs(self, i, outputs, state):
        """Writes outputs into cell i, changing only what changed since
        state (what the last call wrote), so a page sees a stream grow
        rather than its outputs replaced. Returns the new state."""
        from pycrdt import Array, Text

        ycell = self.ynb.ycells[i]
        youts = ycell.get("outputs")
        sig = [(o.get("output_type"), o.get("name"), o.get("_sena_v"), _nbytes(o["text"]) if o.get("output_type") == "stream" else 0) for o in outputs]
        clean = _clean(outputs)
        with self.ynb.ydoc.transaction():
            if not isinstance(youts, Array) or state is None or len(state) != len(youts):
                ycell["outputs"] = Array([self._youtput(o) for o in clean])
                return sig
            for k, o in enumerate(clean):
                if k < len(state):
                    old = state[k]
                    if old == sig[k]:
                        continue
                    yo = youts[k]
                    t = yo.get("text") if hasattr(yo, "get") else None
                    grown = (
                        old[0] == "stream" and sig[k][0] == "stream" and old[1] == sig[k][1] and old[2] == sig[k][2]
                        and isinstance(t, Text) and sig[k][3] >= old[3]
                    )
                    if grown:
                        done = str(t)
                        if o["text"].startswith(done):
                            t.insert(len(t), o["text"][len(done):])
                            continue
                    youts[k] = self._youtput(o)
                else:
                    youts.append(self._youtput(o))
            if len(youts) > len(clean):
                del youts[len(clean):]
        return sig

    def set_running(self, i, running):
        self.ynb.ycells[i]["execution_state"] = "running" if running else "idle"

    def set_metadata(self, set_, delete):
        from pycrdt import Map

        meta = self.ynb._ymeta
        md = meta.get("metadata")
        if not isinstance(md, Map):
            meta["metadata"] = md = Map({})
        for k in delete:
            if k in md:
                del md[k]
        for k, v in set_.items():
            md[k] = copy.deepcopy(v)

    def snapshot(self):
        return _ints(self.ynb.get())

    async def save(self, touched=()):
        pass  # the room saves the document itself, a second after a change


# --------------------------------------------------------------------------
# Output recording with a limit.


class Stream:
    """A stream output (consecutive stdout or stderr text). Within the cell's
    limit it keeps everything; past it, its start and its last part, with a
    line between saying how much was left out and where all of it is."""

    def __init__(self, rec, name):
        self.rec, self.name = rec, name
        self.chunks, self.nbytes = [], 0
        self.cut = False
        self.tail, self.tail_bytes = deque(), 0
        self.omitted = 0  # bytes past the head, shown in the tail or not
        self.v = 0  # bumped when the text changes other than by growing

    def head(self):
        if len(self.chunks) > 1:
            self.chunks = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    def text(self):
        if not self.cut:
            return self.head()
        tail = _tail_bytes("".join(self.tail), self.rec.tail_limit)
        return self.head() + self.rec.marker_stream(self, _nbytes(tail)) + tail

    def add(self, text):
        rec = self.rec
        n = _nbytes(text)
        if not self.cut:
            if rec.kept + n <= rec.limit:
                self.chunks.append(text)
                self.nbytes += n
                rec.kept += n
                rec.spill_write(self.name, text)
                return
            # Past the limit: the file gets all of the stream; the head keeps
            # what leaves room for the tail, cut from what it had if need be;
            # the rest is the middle.
            rec.spill_open(self.name)
            rec.spill_write(self.name, text)
            others = rec.kept - self.nbytes
            room = max(0, rec.limit - rec.tail_limit - others)
            head = self.head()
            if self.nbytes > room:
                keep = _cut_bytes(head, room)
                text = head[len(keep):] + text
                self.chunks = [keep]
            else:
                fill = _cut_bytes(text, room - self.nbytes)
                self.chunks.append(fill)
                text = text[len(fill):]
            self.nbytes = _nbytes(self.head())
            rec.kept = others + self.nbytes + rec.tail_limit
            self.cut = True
            self.v += 1
        else:
            rec.spill_write(self.name, text)
        self.omitted += _nbytes(text)
        self.tail.append(text)
        self.tail_bytes += _nbytes(text)
        while len(self.tail) > 1 and self.tail_bytes - _nbytes(self.tail[0]) >= rec.tail_limit:
            self.tail_bytes -= _nbytes(self.tail.popleft())
        self.v += 1

    def output(self):
        return {"output_type": "stream", "name": self.name, "text": self.text(), "_sena_v": self.v}


class Recorder:
    """Records one execution's iopub messages into its cell, within the
    cell's output limit: past it, streams keep their start and their end,
    further outputs are counted in one summary line, and what is not kept
    goes whole to files under sena-outputs/CELL_ID/ in the work dir."""

    def __init__(self, svc, path, cell_id, msg_id, kernel_id, limit):
        self.svc, self.path, self.cell_id, self.msg_id, self.kernel_id = svc, path, cell_id, msg_id, kernel_id
        self.unlimited = not limit or limit < 0
        self.limit = (1 << 62) if self.unlimited else limit
        self.tail_limit = self.limit // 4
        self.outputs = []  # Stream objects and output dicts
        self.kept = 0
        self.overflow = None  # the summary output for outputs not kept
        self.overflow_count = self.overflow_bytes = self.overflow_v = 0
        self.clear_pending = False
        self.execution_count = None
        self.spill = {}  # stream name -> open file (None: cannot write)
        self.spilled_files = []
        self.done = asyncio.Event()
        self.final = None
        self.state = None
        self.flusher = None
        self.last_flush = 0.0

    # -- what the notebook says about what it does not keep

    def spill_rel(self, name):
        return f"{SPILL_DIR}/{self.cell_id}/{name}"

    def marker_stream(self, s, shown_tail):
        left = max(0, s.omitted - shown_tail)
        return (
            f"\n[... Sena: {_human(left)} of this {s.name} not kept in the notebook"
            f" (each cell keeps about {_human(self.limit)} of output: output_limit_kib);"
            f" all of it is in {self.spill_rel(s.name + '.txt')} ...]\n"
        )

    def update_overflow(self):
        files = ", ".join(self.spill_rel(f) for f in self.spilled_files[-3:])
        where = f"; they are in {files}" if files else f"; their text is in {SPILL_DIR}/{self.cell_id}/"
        self.overflow_v += 1
        stream = self.overflow.get("_sena_stream")
        self.overflow.clear()
        self.overflow.update({
            "output_type": "display_data", "metadata": {}, "_sena_v": self.overflow_v, "_sena_stream": stream,
            "data": {"text/plain": f"[Sena: {self.overflow_count} more output(s), {_human(self.overflow_bytes)}, not kept in the notebook"
                     f" (each cell keeps about {_human(self.limit)} of output: output_limit_kib){where}]"},
        })

    # -- spill files

    def spill_open(self, name):
        """Starts the file that holds all of a stream: the text the cell kept
        of that stream so far, then everything after."""
        if name in self.spill:
            return
        d = os.path.join(self.svc.root, SPILL_DIR, self.cell_id)
        try:
            os.makedirs(d, exist_ok=True)
            f = open(os.path.join(d, name + ".txt"), "w", encoding="utf-8", errors="surrogatepass")
            for o in self.outputs:
                if isinstance(o, Stream) and o.name == name:
                    f.write(o.head())
            self.spill[name] = f
        except OSError as e:
            self.svc.log.warning("Sena: cannot write %s of cell %s to a file: %s", name, self.cell_id, e)
            self.spill[name] = None

    def spill_write(self, name, text):
        f = self.spill.get(name)
        if f is not None and text:
            try:
                f.write(text)
            except OSError:
                self.spill[name] = None

    def spill_rich(self, o):
        d = os.path.join(self.svc.root, SPILL_DIR, self.cell_id)
        data = o.get("data") or {}
        for mime, ext, binary in (("image/png", "png", True), ("image/jpeg", "jpg", True), ("image/svg+xml", "svg", False),
                                  ("text/html", "html", False), ("application/json", "json", False), ("text/plain", "txt", False)):
            if mime not in data:
                continue
            name = f"output-{len(self.spilled_files) + 1}.{ext}"
            try:
                os.makedirs(d, exist_ok=True)
                v = data[mime]
                with open(os.path.join(d, name), "wb") as f:
                    if binary:
                        f.write(base64.b64decode(_join(v)))
                    elif isinstance(v, (dict, list)):
                        f.write(json.dumps(v).encode())
                    else:
                        f.write(_join(v).encode("utf-8", "surrogatepass"))
                self.spilled_files.append(name)
            except Exception as e:
                self.svc.log.warning("Sena: cannot write an output of cell %s to a file: %s", self.cell_id, e)
            return

    def close_spill(self):
        for f in self.spill.values():
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self.spill = {}

    # -- outputs

    def _clear(self):
        self.outputs, self.kept = [], 0
        self.overflow, self.overflow_count, self.overflow_bytes = None, 0, 0
        self.close_spill()
        self.spilled_files = []
        self.clear_pending = False

    def _full(self):
        return not self.unlimited and self.kept >= self.limit - self.tail_limit

    def _overflowed(self, size, o=None, stream=None):
        if o is not None:
            self.spill_rich(o)
        if stream is not None:
            self.spill_open(stream[0])
            self.spill_write(stream[0], stream[1])
        self.overflow_count += 1
        self.overflow_bytes += size
        if self.overflow is None or self.outputs[-1] is not self.overflow:
            if self.overflow is None:
                self.overflow = {}
                self.outputs.append(self.overflow)
        self.update_overflow()

    def handle(self, msg_type, content):
        if msg_type in ("stream", "display_data", "execute_result", "error") and self.clear_pending:
            self._clear()
        if msg_type == "stream":
            name, text = content.get("name") or "stdout", content.get("text") or ""
            last = self.outputs[-1] if self.outputs else None
            if isinstance(last, Stream) and last.name == name:
                last.add(text)
            elif self._full():
                # A new output when the cell is full: counted, not kept.
                if last is self.overflow and self.overflow is not None and self.overflow.get("_sena_stream") == name:
                    self.overflow_count -= 1  # the same stream going on
                self._overflowed(_nbytes(text), stream=(name, text))
                self.overflow["_sena_stream"] = name
            else:
                s = Stream(self, name)
                self.outputs.append(s)
                s.add(text)
        elif msg_type in ("display_data", "execute_result", "error"):
            o = {k: v for k, v in content.items() if k != "transient"}
            o["output_type"] = msg_type
            if msg_type == "error":
                o.setdefault("traceback", [])
                tb = "\n".join(o["traceback"])
                if not self.unlimited and _nbytes(tb) > max(self.tail_limit, 4096):
                    o["traceback"] = _tail_bytes(tb, max(self.tail_limit, 4096)).split("\n")
                self.outputs.append(o)  # always kept: it says what went wrong
                return
            o.setdefault("metadata", {})
            if msg_type == "execute_result" and o.get("execution_count") is None:
                o["execution_count"] = self.execution_count
            size = len(json.dumps(o.get("data") or {}))
            if not self.unlimited and self.kept + size > self.limit:
                self._overflowed(size, o=o)
                self.overflow["_sena_stream"] = None
                return
            self.kept += size
            self.outputs.append(o)
            did = (content.get("transient") or {}).get("display_id")
            if did:
                self.svc.displays.add(did, self.cell_id, self.path, len(self.outputs) - 1)
        elif msg_type == "update_display_data":
            did = (content.get("transient") or {}).get("display_id")
            if did:
                self.svc.update_display(did, content)
        elif msg_type == "clear_output":
            if content.get("wait"):
                self.clear_pending = True
            else:
                self._clear()
        elif msg_type == "execute_input":
            n = content.get("execution_count")
            if isinstance(n, int):
                self.execution_count = n

    def update_own(self, k, content):
        if not (0 <= k < len(self.outputs)) or not isinstance(self.outputs[k], dict) or self.outputs[k] is self.overflow:
            return
        o = self.outputs[k]
        old = len(json.dumps(o.get("data") or {}))
        new = len(json.dumps(content.get("data") or {}))
        if not self.unlimited and self.kept - old + new > self.limit:
            return  # the update does not fit: the output keeps its last value
        self.kept += new - old
        o["data"] = content.get("data") or {}
        o["metadata"] = content.get("metadata") or {}
        o["_sena_v"] = o.get("_sena_v", 0) + 1

    def rendered(self):
        return [o.output() if isinstance(o, Stream) else o for o in self.outputs]


def _clean(outputs):
    return [{k: v for k, v in o.items() if not k.startswith("_sena")} for o in outputs]


class Displays:
    """Where display_ids recorded here went, for update_display_data (which
    may come from a later cell). Bounded: the oldest are forgotten."""

    def __init__(self):
        self.map = OrderedDict()

    def add(self, did, cell_id, path, k):
        self.map.setdefault(did, []).append((cell_id, path, k))
        self.map.move_to_end(did)
        while len(self.map) > 1000:
            self.map.popitem(last=False)

    def get(self, did):
        return self.map.get(did, [])


# --------------------------------------------------------------------------
# Kernel watchers: our own iopub subscription per kernel.


class Watcher:
    def __init__(self, svc, kernel_id):
        from jupyter_client.session import Session

        self.svc, self.kernel_id = svc, kernel_id
        km = svc.app.kernel_manager
        kernel = km.get_kernel(kernel_id)
        self.session = Session(config=kernel.session.config, key=kernel.session.key)
        self.stream = kernel.connect_iopub()
        self.stream.on_recv(self.on_recv)
        self.seen = deque(maxlen=512)
        self.seen_set = set()
        self.seen_event = asyncio.Event()
        self.recorders = {}

    def close(self):
        try:
            self.stream.on_recv(None)
            self.stream.close()
        except Exception:
            pass

    def saw(self, parent_id):
        if parent_id in self.seen_set:
            return
        if len(self.seen) == self.seen.maxlen:
            self.seen_set.discard(self.seen[0])
        self.seen.append(parent_id)
        self.seen_set.add(parent_id)
        self.seen_event.set()

    def on_recv(self, msg_list):
        try:
            _, fed = self.session.feed_identities(msg_list)
            msg = self.session.deserialize(fed, content=False)
            parent = (msg.get("parent_header") or {}).get("msg_id")
            msg_type = msg["header"]["msg_type"]
            if parent:
                self.saw(parent)
            if msg_type == "status":
                content = self.session.unpack(msg["content"])
                if content.get("execution_state") == "starting":
                    # A new kernel process: nothing running can finish now.
                    for r in list(self.recorders.values()):
                        self.svc.finish(r)
                    return
            rec = self.recorders.get(parent) if parent else None
            if rec is None:
                return
            content = self.session.unpack(msg["content"])
            if msg_type == "status":
                if content.get("execution_state") == "idle":
                    self.svc.finish(rec)
                return
            rec.handle(msg_type, content)
            self.svc.schedule_flush(rec)
        except Exception:
            self.svc.log.exception("Sena: recording an output failed")


# --------------------------------------------------------------------------
# The service.


class Service:
    def __init__(self, app):
        self.app = app
        self.log = app.log
        self.cm = app.contents_manager
        self.root = os.path.abspath(os.path.expanduser(getattr(app, "root_dir", "") or os.getcwd()))
        self.locks = {}
        self.watchers = {}
        self.recorders = {}  # msg_id -> Recorder (running)
        self.finished = OrderedDict()  # msg_id -> Recorder, kept a while for finish
        self.displays = Displays()
        self.tracked = {}  # path -> {"rev": int, "changed": {cell_id: rev}, "known": hash, "frev": int}, file mode only
        self.nonce = uuid.uuid4().hex  # pages' hashes from an earlier server never match
        self.flush_interval = {True: 0.1, False: 1.0}

    # -- setup

    def install(self):
        km = self.app.kernel_manager
        start, stop = km.start_watching_activity, km.stop_watching_activity

        def start_watching(kernel_id):
            start(kernel_id)
            try:
                self.watch(kernel_id, renew=True)
            except Exception:
                self.log.exception("Sena: cannot watch kernel %s", kernel_id)

        def stop_watching(kernel_id):
            w = self.watchers.pop(kernel_id, None)
            if w is not None:
                w.close()
            stop(kernel_id)

        km.start_watching_activity = start_watching
        km.stop_watching_activity = stop_watching
        self._wrap_save()

    def _wrap_save(self):
        cm = self.cm
        orig = cm.save
        self._orig_save = orig
        svc = self
        if inspect.iscoroutinefunction(orig):

            async def save(model, path=""):
                if _sena_saving.get() or not svc.is_tracked(path):
                    return await orig(model, path)
                async with svc.lock(path):
                    tok = _sena_locked.set(True)
                    try:
                        svc.merge_foreign(path, model)
                        out = await orig(model, path)
                        svc.note_write(path, foreign=True)
                        return out
                    finally:
                        _sena_locked.reset(tok)

        else:

            def save(model, path=""):
                if _sena_saving.get() or not svc.is_tracked(path):
                    return orig(model, path)
                svc.merge_foreign(path, model)
                out = orig(model, path)
                svc.note_write(path, foreign=True)
                return out

        cm.save = save

        # A read of a tracked notebook waits for a write under way: the
        # contents manager writes files in place, so a page opening the
        # notebook while Sena saves it would read half a file. (File mode
        # only: with real-time collaboration the room reads and writes the
        # file, and Sena never does.)
        get = cm.get
        if inspect.iscoroutinefunction(get):

            async def locked_get(path, *args, **kwargs):
                if _sena_saving.get() or _sena_locked.get() or not svc.is_tracked(path) or svc.ydoc_extension() is not None:
                    return await get(path, *args, **kwargs)
                async with svc.lock(path):
                    model = await get(path, *args, **kwargs)
                # The hash a page compares before it saves (see page_hash).
                if isinstance(model, dict) and model.get("hash") is not None:
                    model = dict(model, hash=svc.page_hash(path, model["hash"]))
                return model

            cm.get = locked_get
        # A synchronous contents manager (jupyter_server 1.x) writes on the
        # event loop, so no read comes between.

    def ydoc_extension(self):
        em = getattr(self.app, "extension_manager", None)
        if em is None:
            return None
        try:
            apps = em.extension_apps.get("jupyter_server_ydoc") or ()
        except Exception:
            return None
        for a in apps:
            if hasattr(a, "get_document") and not getattr(a, "disable_rtc", False) and hasattr(a, "ywebsocket_server"):
                return a
        return None

    def info(self):
        import jupyter_server

        return {
            "version": VERSION,
            "rtc": self.ydoc_extension() is not None,
            "jupyter_server": jupyter_server.__version__,
            "max_message_size": int(self.app.web_app.settings.get("websocket_max_message_size") or 10 * 1024 * 1024),
        }

    def lock(self, path):
        path = path.strip("/")
        if path not in self.locks:
            self.locks[path] = asyncio.Lock()
        return self.locks[path]

    def watch(self, kernel_id, renew=False):
        w = self.watchers.get(kernel_id)
        if w is not None and not renew:
            return w
        if w is not None:
            w.close()
        w = Watcher(self, kernel_id)
        self.watchers[kernel_id] = w
        return w

    # -- documents

    async def open(self, path, create_room=True):
        ext = self.ydoc_extension()
        if ext is not None and not await _aw(self.cm.file_exists(path)):
            raise NotFound(path)
        if ext is not None:
            ynb = await ext.get_document(path=path, content_type="notebook", file_format="json", copy=False, create=create_room)
            if ynb is not None:
                return YDoc(self, path, ynb)
        if not await _aw(self.cm.file_exists(path)):
            raise NotFound(path)
        return await FileDoc(self, path).load()

    def is_tracked(self, path):
        return path.strip("/") in self.tracked

    def track(self, path, nb=None):
        p = path.strip("/")
        if p not in self.tracked:
            # Revisions before this server's start are not known cell by cell.
            base = _revision(nb) if nb is not None else 0
            self.tracked[p] = {"rev": base, "base": base, "changed": {}, "known": None, "frev": 0}
        return self.tracked[p]

    def note_write(self, path, foreign):
        """Remember the file's hash after a write through the service (a
        page's save when foreign, else Sena's)."""
        t = self.tracked.get(path.strip("/"))
        if t is None:
            return
        try:
            with open(self.cm._get_os_path(path.strip("/")), "rb") as f:
                t["known"] = hashlib.new(getattr(self.cm, "hash_algorithm", "sha256") or "sha256", f.read()).hexdigest()
        except Exception:
            t["known"] = None
        if foreign:
            t["frev"] += 1

    def page_hash(self, path, actual):
        """The content hash pages get for a tracked notebook (file mode).
        A page compares the hash it loaded with the file's before it saves
        and asks "File Changed" when they differ; Sena's writes are merged
        into the page's save, so they are no conflict. So pages get a hash
        of the file's writes by others (pages, or anything writing the file
        behind the server's back), which Sena's writes leave as it was."""
        t = self.tracked.get(path.strip("/"))
        if t is None:
            return actual
        if t["known"] is None:
            t["known"] = actual
        elif actual != t["known"]:
            t["frev"] += 1  # written outside the service
            t["known"] = actual
        return hashlib.sha256(f"sena-page-view {self.nonce} {path.strip('/')} {t['frev']}".encode()).hexdigest()

    async def save_file(self, path, nb, touched=()):
        """Sena's own write of a notebook file (file mode): the revision goes
        up, and the cells it changed are marked with it."""
        t = self.track(path, nb)
        t["rev"] = max(t["rev"], _revision(nb)) + 1
        for cid in touched:
            t["changed"][cid] = t["rev"]
        nb.setdefault("metadata", {})[REVISION_KEY] = t["rev"]
        # The file keeps its modification time: a page compares it with the
        # time of its own last load or save before it saves, and asks "File
        # Changed" when the file is newer. Sena's writes are merged into a
        # page's save (merge_foreign), so they are no conflict to ask about;
        # a save by another page still is.
        os_path = self.cm._get_os_path(path.strip("/"))
        try:
            st = os.stat(os_path)
        except OSError:
            st = None
        tok = _sena_saving.set(True)
        try:
            await _aw(self._orig_save({"type": "notebook", "format": "json", "content": nb}, path))
        finally:
            _sena_saving.reset(tok)
        if st is not None:
            try:
                os.utime(os_path, ns=(st.st_atime_ns, st.st_mtime_ns))
            except OSError:
                pass
        self.note_write(path, foreign=False)
        return t["rev"]

    def merge_foreign(self, path, model):
        """A page saves the notebook (file mode): keep what Sena wrote since
        the revision the page loaded. Cells Sena added or changed after it
        are put back (after the cell they followed) or kept in Sena's
        version; everything else is the page's, its deletions included."""
        if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
            return
        t = self.tracked.get(path.strip("/"))
        if t is None:
            return
        theirs = model["content"]
        md = theirs.setdefault("metadata", {})
        seen = _revision(theirs)
        if seen >= t["rev"]:
            return
        try:
            with open(self.cm._get_os_path(path.strip("/")), encoding="utf-8") as f:
                disk = json.load(f)
        except Exception:
            return
        cells = theirs.setdefault("cells", [])
        ids = [c.get("id") for c in cells]
        newer = {cid for cid, rev in t["changed"].items() if rev > seen}
        if seen < t["base"]:
            # The page loaded a revision older than this server: which cells
            # it saw is not known, so none of Sena's goes missing.
            newer |= {c.get("id") for c in disk.get("cells", []) if c.get("id") not in ids}
        prev = None
        for dc in disk.get("cells", []):
            cid = dc.get("id")
            if cid in newer:
                if cid in ids:
                    cells[ids.index(cid)] = dc
                else:
                    at = ids.index(prev) + 1 if prev in ids else 0
                    cells.insert(at, dc)
                    ids.insert(at, cid)
            if cid in ids:
                prev = cid
        md[REVISION_KEY] = t["rev"]
        self.log.info("Sena: merged %d cell(s) Sena wrote since revision %d into a save of %s", len(newer & set(ids)), seen, path)

    async def get(self, path):
        async with self.lock(path):
            doc = await self.open(path)
            if doc.needs_save:
                await doc.save()
            return {"notebook": doc.snapshot(), "rtc": doc.rtc}

    async def apply(self, path, ops):
        async with self.lock(path):
            create = [op for op in ops if op.get("op") == "create"]
            if create:
                await self.create(path, create[-1]["notebook"])
                ops = [op for op in ops if op.get("op") != "create"]
            doc = await self.open(path)
            touched = []
            # One transaction: a page sees all of a change at once (never,
            # say, a notebook without cells, to which it would add one).
            with doc.transaction():
                if doc.rtc and any(op.get("op") == "insert" for op in ops) and doc.count() == 1 and _placeholder(doc.get(0)):
                    # jupyter_ydoc gives an empty notebook one empty cell;
                    # Sena's first cell takes its place.
                    doc.delete(0)
                for op in ops:
                    self.apply_op(doc, op, touched)
            await doc.save(touched)
            return {"notebook": doc.snapshot(), "rtc": doc.rtc}

    async def create(self, path, nb):
        ext = self.ydoc_extension()
        if ext is not None:
            ynb = await ext.get_document(path=path, content_type="notebook", file_format="json", copy=False, create=False)
            if ynb is not None:
                await ynb.aset(nb)
                return
        nb = copy.deepcopy(nb)
        await self.save_file(path, nb, [c.get("id") for c in nb.get("cells", [])])

    @staticmethod
    def position(doc, at, default):
        if isinstance(at, dict):
            for key, off in (("after", 1), ("before", 0)):
                if key in at:
                    i = doc.index(at[key])
                    if i >= 0:
                        return i + off
            if "index" in at:
                return max(0, min(int(at["index"]), doc.count()))
        if at == "start":
            return 0
        return default

    def apply_op(self, doc, op, touched):
        kind = op.get("op")
        if kind == "insert":
            cell = op["cell"]
            n = doc.count()
            i = doc.index(cell.get("id"))
            if i >= 0:  # a retried insert lands once
                doc.replace(i, cell)
            else:
                doc.insert(self.position(doc, op.get("at"), n), cell)
            touched.append(cell.get("id"))
        elif kind == "update":
            i = doc.index(op["id"])
            if i < 0:
                # The cell went away meanwhile (deleted in a page): Sena's
                # change brings it back rather than getting lost.
                if op.get("cell"):
                    doc.insert(self.position(doc, op.get("at"), doc.count()), op["cell"])
                    touched.append(op["id"])
                return
            doc.set_fields(i, op.get("fields") or {})
            touched.append(op["id"])
        elif kind == "delete":
            i = doc.index(op["id"])
            if i >= 0:
                doc.delete(i)
        elif kind == "move":
            i = doc.index(op["id"])
            if i < 0:
                return
            j = self.position(doc, op.get("at"), doc.count())
            if j > i:
                j -= 1
            if j != i:
                doc.move(i, j)
            touched.append(op["id"])
        elif kind == "metadata":
            doc.set_metadata(op.get("set") or {}, op.get("delete") or [])
        else:
            raise ValueError(f"unknown op {kind!r}")

    # -- recording

    async def record(self, path, kernel_id, cell_id, msg_id, probe_id, limit):
        if not _CELL_ID.match(cell_id or ""):
            raise ValueError(f"bad cell id {cell_id!r}")
        if kernel_id not in self.app.kernel_manager:
            raise NotFound(f"kernel {kernel_id}")
        w = self.watch(kernel_id)
        deadline = time.monotonic() + 1.0
        while probe_id not in w.seen_set:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"live": False}
            w.seen_event.clear()
            try:
                await asyncio.wait_for(w.seen_event.wait(), left)
            except asyncio.TimeoutError:
                pass
        rec = Recorder(self, path, cell_id, msg_id, kernel_id, limit)
        try:
            import shutil

            shutil.rmtree(os.path.join(self.root, SPILL_DIR, cell_id), ignore_errors=True)
        except Exception:
            pass
        w.recorders[msg_id] = rec
        self.recorders[msg_id] = rec
        async with self.lock(path):
            doc = await self.open(path)
            i = doc.index(cell_id)
            if i >= 0:
                doc.set_running(i, True)
        return {"live": True}

    def schedule_flush(self, rec):
        if rec.flusher is not None and not rec.flusher.done():
            return
        rec.flusher = asyncio.ensure_future(self._flush_later(rec))

    async def _flush_later(self, rec):
        rtc = self.ydoc_extension() is not None
        wait = self.flush_interval[rtc] - (time.monotonic() - rec.last_flush)
        if wait > 0:
            await asyncio.sleep(wait)
        if not rec.done.is_set():
            await self.flush(rec)

    async def flush(self, rec, final=False, extra=None, execution_count=None):
        async with self.lock(rec.path):
            rec.last_flush = time.monotonic()
            rec.dirty = False
            try:
                doc = await self.open(rec.path)
            except NotFound:
                return None
            i = doc.index(rec.cell_id)
            if i < 0:
                return None  # the cell was deleted while it ran
            outputs = rec.rendered()
            if extra:
                outputs = outputs + list(extra)
            rec.state = doc.set_outputs(i, outputs, rec.state)
            count = execution_count if execution_count is not None else rec.execution_count
            if count is not None:
                doc.set_fields(i, {"execution_count": count})
            if final:
                doc.set_running(i, False)
            if not doc.rtc:
                await doc.save([rec.cell_id])
            elif final:
                self.save_room_now(rec.path)
            return doc

    def save_room_now(self, path):
        ext = self.ydoc_extension()
        try:
            from jupyter_server_ydoc.utils import encode_file_path, room_id_from_encoded_path

            file_id = self.app.web_app.settings["file_id_manager"].index(path)
            room_id = room_id_from_encoded_path(encode_file_path("json", "notebook", file_id))
            room = ext.ywebsocket_server.rooms.get(room_id)
            if room is not None and hasattr(room, "_save_to_disc"):
                room._save_to_disc()
        except Exception:
            pass

    def finish(self, rec):
        """The execution went idle (or its kernel is gone): record the end."""
        if rec.done.is_set():
            return
        rec.done.set()
        w = self.watchers.get(rec.kernel_id)
        if w is not None:
            w.recorders.pop(rec.msg_id, None)
        self.recorders.pop(rec.msg_id, None)
        self.finished[rec.msg_id] = rec
        while len(self.finished) > 64:
            self.finished.popitem(last=False)
        rec.close_spill()
        rec.final = asyncio.ensure_future(self.flush(rec, final=True))

    async def finish_request(self, msg_id, extra, execution_count, wait):
        rec = self.recorders.get(msg_id) or self.finished.get(msg_id)
        if rec is None:
            raise NotFound(f"recording {msg_id}")
        if not rec.done.is_set():
            try:
                await asyncio.wait_for(rec.done.wait(), wait)
            except asyncio.TimeoutError:
                pass
            self.finish(rec)  # Sena's client saw it end: stop waiting for the idle
        await rec.final
        if extra or execution_count is not None:
            await self.flush(rec, final=True, extra=extra, execution_count=execution_count)
            rec.outputs.extend(extra or [])
        async with self.lock(rec.path):
            doc = await self.open(rec.path)
            nb = doc.snapshot()
        return {"notebook": nb}

    def update_display(self, did, content):
        for cell_id, path, k in self.displays.get(did):
            live = next((r for r in self.recorders.values() if r.cell_id == cell_id), None)
            if live is not None:
                live.update_own(k, content)
                self.schedule_flush(live)
                continue
            asyncio.ensure_future(self._update_old_display(path, cell_id, k, content))

    async def _update_old_display(self, path, cell_id, k, content):
        async with self.lock(path):
            try:
                doc = await self.open(path)
            except NotFound:
                return
            i = doc.index(cell_id)
            if i < 0:
                return
            cell = doc.cells()[i]
            outs = cell.get("outputs") or []
            if k >= len(outs) or outs[k].get("output_type") not in ("display_data", "execute_result"):
                return
            o = dict(outs[k])
            o["data"], o["metadata"] = content.get("data") or {}, content.get("metadata") or {}
            outs = list(outs)
            outs[k] = o
            doc.set_outputs(i, outs, None)
            await doc.save([cell_id])


# --------------------------------------------------------------------------
# HTTP handlers.


def _handlers(svc):
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class Base(APIHandler):
        def body(self):
            try:
                return json.loads(self.request.body or b"{}")
            except ValueError as e:
                raise web.HTTPError(400, f"bad JSON: {e}")

        def path_arg(self):
            p = self.get_query_argument("path", "").strip("/")
            if not p or ".." in p.split("/"):
                raise web.HTTPError(400, "path: want the notebook's path under the server's root")
            return p

        async def run(self, coro):
            try:
                self.finish(json.dumps(await coro))
            except NotFound as e:
                raise web.HTTPError(404, f"not found: {e}")
            except ValueError as e:
                raise web.HTTPError(400, str(e))

    class Info(Base):
        @web.authenticated
        def get(self):
            self.finish(json.dumps(svc.info()))

    class Doc(Base):
        @web.authenticated
        async def get(self):
            await self.run(svc.get(self.path_arg()))

        @web.authenticated
        async def post(self):
            b = self.body()
            await self.run(svc.apply(self.path_arg(), b.get("ops") or []))

    class Record(Base):
        @web.authenticated
        async def post(self):
            b = self.body()
            await self.run(svc.record(self.path_arg(), b.get("kernel_id", ""), b.get("cell_id", ""), b.get("msg_id", ""),
                                      b.get("probe_id", ""), int(b.get("limit") or 0)))

    class Finish(Base):
        @web.authenticated
        async def post(self):
            b = self.body()
            await self.run(svc.finish_request(b.get("msg_id", ""), b.get("outputs") or [], b.get("execution_count"),
                                              float(b.get("wait") or 5)))

    return [("info", Info), ("", Doc), ("record", Record), ("finish", Finish)]


def load(app):
    """Installs the service in a ServerApp whose web app exists."""
    try:
        from jupyter_server.utils import url_path_join

        svc = Service(app)
        svc.install()
        base = app.web_app.settings.get("base_url", "/")
        routes = [(url_path_join(base, API, name) if name else url_path_join(base, API), h) for name, h in _handlers(svc)]
        app.web_app.add_handlers(".*$", routes)
        app.web_app.settings["sena_notebook_service"] = svc
        app.log.info("Sena: notebook service at %s", url_path_join(base, API))
        return svc
    except Exception:
        app.log.exception("Sena: the notebook service did not load; Sena falls back to whole-notebook saves")
        return None
