# Sena's helpers that run inside a session's kernel without leaving a trace:
# no cell, no history, no names in the user's namespace. Go sends this file
# with one call (kernelside.go); main() prints one line, MARKER + JSON.
# Only the standard library is imported up front: torch and numpy are
# looked at only when the kernel has imported them already.
import json
import os
import sys

MARKER = "\x1eSENA-RESULT:"


def main(op, args, ns):
    try:
        out = {"ok": OPS[op](ns, **args)}
    except UserError as e:
        out = {"error": str(e)}
    sys.stdout.write("\n" + MARKER + json.dumps(out, default=str) + "\n")
    sys.stdout.flush()


class UserError(Exception):
    """Bad input from the agent: a message that says what to do."""


# ---------------------------------------------------------------- variables

HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def list_variables(ns, limit=200, name=""):
    rows = []
    names = [n for n in ns if not n.startswith("_") and n not in HIDDEN]
    if name:
        if name not in ns:
            raise UserError(f"no variable named {name!r} in the kernel")
        names = [name]
    skipped = {"modules": 0}
    for n in sorted(names):
        v = ns[n]
        if type(v).__name__ == "module":
            skipped["modules"] += 1
            continue
        if len(rows) >= limit:
            skipped["more"] = skipped.get("more", 0) + 1
            continue
        try:
            rows.append(describe_value(n, v))
        except Exception as e:  # a broken __repr__ must not hide the rest
            rows.append({"name": n, "type": typename(v), "summary": f"(could not describe: {type(e).__name__})"})
    return {"variables": rows, "modules": skipped["modules"], "more": skipped.get("more", 0)}


def typename(v):
    t = type(v)
    mod = t.__module__
    if mod in ("builtins", "__main__"):
        return t.__qualname__
    return mod.split(".")[0] + "." + t.__qualname__


def describe_value(name, v):
    row = {"name": name, "type": typename(v)}
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(v, torch.Tensor):
        row.update(tensor_facts(torch, v))
    elif np is not None and isinstance(v, np.ndarray):
        row.update(array_facts(np, v))
    elif torch is not None and isinstance(v, torch.nn.Module):
        row.update(module_facts(torch, v))
    elif is_tokenizer(v):
        row["summary"] = f"tokenizer, vocab {len(v)}"
    elif isinstance(v, (bool, int, float, complex)) or v is None:
        row["summary"] = short_repr(v)
    elif isinstance(v, (str, bytes)):
        row["summary"] = f"len {len(v)}: {short_repr(v, 60)}"
    elif isinstance(v, (list, tuple, set, frozenset, dict)):
        row["summary"] = f"len {len(v)}" + container_hint(v)
    elif type(v).__name__ == "DataFrame" and hasattr(v, "columns"):
        cols = [str(c) for c in list(v.columns)[:8]]
        row["summary"] = f"shape {tuple(v.shape)}, columns {cols}" + ("..." if len(v.columns) > 8 else "")
    elif isinstance(v, type):
        row["type"] = "class"
        row["summary"] = f"{v.__module__}.{v.__qualname__}"
    elif callable(v) and type(v).__name__ in ("function", "builtin_function_or_method", "method"):
        row["type"] = "function"
        row["summary"] = f"{getattr(v, '__name__', name)}{signature_of(v)}"
    else:
        row["summary"] = short_repr(v)
    return row


def signature_of(f):
    import inspect
    try:
        return short_repr(str(inspect.signature(f)), 80)
    except (TypeError, ValueError):
        return "(...)"


def short_repr(v, n=80):
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def container_hint(v):
    items = list(v.items())[:3] if isinstance(v, dict) else list(v)[:3] if not isinstance(v, (set, frozenset)) else []
    if not items:
        return ""
    if isinstance(v, dict):
        return ", keys " + ", ".join(short_repr(k, 30) for k, _ in items) + (", ..." if len(v) > 3 else "")
    types = sorted({typename(x) for x in items})
    return ", of " + "/".join(types)


# Tensors larger than this get their mean and std from an even sample, so
# a look at a big activation cache never copies it (min and max are exact).
SAMPLE = 1 << 20


def tensor_facts(torch, t):
    facts = {
        "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "device": str(t.device),
        "bytes": t.numel() * t.element_size(),
    }
    if t.requires_grad:
        facts["requires_grad"] = True
    if t.numel() == 0 or t.is_meta or t.layout != torch.strided:
        return facts
    with torch.no_grad():
        flat = t.detach().reshape(-1)
        facts["values"] = [round_value(x) for x in flat[:5].tolist()]
        if t.is_complex():
            flat = flat.abs()
        if flat.dtype == torch.bool:
            flat = flat.to(torch.uint8)
        facts["min"], facts["max"] = round_value(flat.min().item()), round_value(flat.max().item())
        sample = flat[:: max(1, flat.numel() // SAMPLE)].float()
        facts["mean"] = round_value(sample.mean().item())
        if sample.numel() > 1:
            facts["std"] = round_value(sample.std().item())
        if sample.numel() < flat.numel():
            facts["sampled"] = sample.numel()
    return facts


def array_facts(np, a):
    facts = {"shape": list(a.shape), "dtype": str(a.dtype), "device": "cpu", "bytes": int(a.nbytes)}
    if a.size == 0 or a.dtype.kind not in "biuf":
        return facts
    flat = a.reshape(-1)
    facts["values"] = [round_value(x) for x in flat[:5].tolist()]
    facts["min"], facts["max"] = round_value(flat.min().item()), round_value(flat.max().item())
    sample = flat[:: max(1, flat.size // SAMPLE)].astype("float64")
    facts["mean"] = round_value(float(sample.mean()))
    if sample.size > 1:
        facts["std"] = round_value(float(sample.std()))
    if sample.size < flat.size:
        facts["sampled"] = int(sample.size)
    return facts


def round_value(x):
    if isinstance(x, float):
        return float(f"{x:.4g}")
    return x


def module_facts(torch, m):
    params = list(m.parameters())
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in params})
    devices = sorted({str(p.device) for p in params})
    return {
        "class": type(m).__name__, "parameters": sum(p.numel() for p in params),
        "dtype": ",".join(dtypes), "device": ",".join(devices), "training": m.training,
    }


def is_tokenizer(v):
    return any(c.__name__ == "PreTrainedTokenizerBase" for c in type(v).__mro__)


# ---------------------------------------------------------------- gpu_status


def gpu_status(ns):
    out = {"gpus": [], "host": host_memory()}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    out["cuda_visible_devices"] = visible
    out["gpus"], out["nvidia_smi"] = nvidia_smi(visible)
    torch = sys.modules.get("torch")
    if torch is None:
        out["torch"] = "not imported in the kernel"
    elif not torch.cuda.is_available():
        out["torch"] = "imported; CUDA not available"
    elif not torch.cuda.is_initialized():
        out["torch"] = f"imported; CUDA available ({torch.cuda.device_count()} devices), not initialised yet: nothing allocated"
    else:
        devs = []
        for i in range(torch.cuda.device_count()):
            d = {"index": i, "name": torch.cuda.get_device_name(i),
                 "allocated_mib": mib(torch.cuda.memory_allocated(i)), "reserved_mib": mib(torch.cuda.memory_reserved(i)),
                 "max_allocated_mib": mib(torch.cuda.max_memory_allocated(i))}
            try:
                free, total = torch.cuda.mem_get_info(i)
                d["free_mib"], d["total_mib"] = mib(free), mib(total)
            except Exception:
                pass
            devs.append(d)
        out["torch"] = devs
    return out


def mib(n):
    return round(n / 2**20)


def nvidia_smi(visible):
    import shutil
    import subprocess
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "not found"
    try:
        res = subprocess.run(
            [exe, "--query-gpu=index,uuid,name,memory.used,memory.total,utilization.gpu",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
    except Exception as e:
        return [], f"failed: {e}"
    if res.returncode != 0:
        return [], "failed: " + (res.stderr or res.stdout).strip()[:200]
    gpus = []
    for line in res.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6:
            continue
        idx, uuid, name, used, total, util = parts[:6]
        gpus.append({"index": int(idx), "uuid": uuid, "name": name, "memory_used_mib": num(used),
                     "memory_total_mib": num(total), "utilization_pct": num(util)})
    if visible is not None:
        # Only the GPUs this sandbox may use: CUDA_VISIBLE_DEVICES lists
        # indexes or UUIDs (an empty value hides them all).
        want = [v.strip() for v in visible.split(",") if v.strip()]
        gpus = [g for g in gpus if str(g["index"]) in want or any(g["uuid"].startswith(w) for w in want if w.startswith("GPU-"))]
    return gpus, "ok"


def num(s):
    try:
        return int(float(s))
    except ValueError:
        return None


def host_memory():
    facts = {}
    try:
        with open("/proc/meminfo") as f:
            info = {l.split(":")[0]: int(l.split()[1]) for l in f if l.split()[1:2] and l.split()[1].isdigit()}
        facts["total_mib"], facts["available_mib"] = info["MemTotal"] // 1024, info["MemAvailable"] // 1024
    except Exception:
        pass
    try:
        with open("/proc/self/status") as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    facts["kernel_rss_mib"] = int(l.split()[1]) // 1024
    except Exception:
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                v = f.read().strip()
            if v.isdigit() and int(v) < 2**60:
                facts["limit_mib"] = int(v) // 2**20
            break
        except Exception:
            continue
    return facts


# ---------------------------------------------------------------- describe_model

LAYER_PATHS = ("model.layers", "model.language_model.layers", "transformer.h", "gpt_neox.layers",
               "model.decoder.layers", "transformer.blocks", "transformer.layers")
NORM_PATHS = ("model.norm", "model.language_model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm",
              "model.decoder.final_layer_norm", "transformer.norm_f")
HEAD_PATHS = ("lm_head", "embed_out", "output")
CONFIG_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
               "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings", "rope_theta",
               "hidden_act", "tie_word_embeddings", "sliding_window", "num_experts", "num_local_experts")


def describe_model(ns, variable, tokenizer="", depth=4):
    torch = sys.modules.get("torch")
    obj = resolve(ns, variable)
    if torch is None or not isinstance(obj, torch.nn.Module):
        hint = " (call describe_model on the model itself, not its tokenizer)" if is_tokenizer(obj) else ""
        raise UserError(f"{variable} is a {typename(obj)}, not a torch.nn.Module{hint}: list_variables shows the modules in the kernel")
    lines = []
    params = list(obj.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in params})
    devices = sorted({str(p.device) for p in params})
    head = f"{variable}: {type(obj).__name__} · {count(total)} parameters"
    if 0 < trainable < total:
        head += f" ({count(trainable)} trainable)"
    head += f" · {'/'.join(dtypes) or 'no parameters'} · {'/'.join(devices) or '-'} · {'train' if obj.training else 'eval'} mode"
    lines.append(head)
    cfg = getattr(obj, "config", None)
    if cfg is not None:
        facts = []
        for k in CONFIG_KEYS:
            v = getattr(cfg, k, None)
            if v is None and hasattr(cfg, "get_text_config"):
                v = getattr(cfg.get_text_config(), k, None)
            if v is not None:
                facts.append(f"{k}={v}")
        lines.append("config: " + ", ".join(facts))
    tok_name, tok = find_tokenizer(ns, tokenizer)
    if tok is not None:
        lines.append(f"tokenizer ({tok_name}): " + tokenizer_facts(tok))
    lines.append("modules (repeated blocks folded; parameter counts per module):")
    tree(torch, obj, variable, 0, depth, lines)
    lines.extend(hook_points(torch, obj, variable))
    return {"text": "\n".join(lines)}


def resolve(ns, path):
    name, _, rest = path.partition(".")
    if name not in ns:
        raise UserError(f"no variable named {name!r} in the kernel: list_variables shows the variables")
    obj = ns[name]
    for part in rest.split(".") if rest else []:
        if part.isdigit() and hasattr(obj, "__getitem__"):
            obj = obj[int(part)]
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            raise UserError(f"{path}: {type(obj).__name__} has no attribute {part!r}")
    return obj


def count(n):
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def find_tokenizer(ns, name):
    if name:
        if name not in ns:
            raise UserError(f"no variable named {name!r} in the kernel (the tokenizer argument)")
        return name, ns[name]
    for n in ("tokenizer", "tok"):
        if n in ns and is_tokenizer(ns[n]):
            return n, ns[n]
    toks = [(n, v) for n, v in ns.items() if not n.startswith("_") and is_tokenizer(v)]
    return toks[0] if len(toks) == 1 else ("", None)


def tokenizer_facts(tok):
    facts = [type(tok).__name__, f"vocab {len(tok)}"]
    for attr in ("bos_token", "eos_token", "pad_token", "unk_token"):
        v = getattr(tok, attr, None)
        facts.append(f"{attr.replace('_token', '')}={v!r}" if v is not None else f"{attr.replace('_token', '')}=none")
    facts.append(f"padding_side={getattr(tok, 'padding_side', '?')}")
    facts.append("chat template: " + ("yes" if getattr(tok, "chat_template", None) else "no"))
    return ", ".join(facts)


def leaf(torch, m):
    nn = torch.nn
    name = type(m).__name__
    if isinstance(m, nn.Linear):
        return f"{name}({m.in_features}→{m.out_features}{'' if m.bias is not None else ', no bias'})"
    if isinstance(m, nn.Embedding):
        return f"{name}({m.num_embeddings}, {m.embedding_dim})"
    if isinstance(m, (nn.LayerNorm,)):
        return f"{name}({', '.join(map(str, m.normalized_shape))})"
    if isinstance(m, nn.Dropout):
        return f"{name}(p={m.p})"
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() == 1:
        return f"{name}({w.shape[0]})"  # RMSNorm-style modules
    return name


def signature(m):
    """What makes two blocks the same for folding: classes, names and shapes."""
    return (type(m).__name__, tuple((n, tuple(p.shape)) for n, p in m.named_parameters(recurse=True)))


def nparams(m):
    return sum(p.numel() for p in m.parameters())


CONTAINERS = ("ModuleList", "Sequential", "ModuleDict")


def tree(torch, m, path, level, depth, lines):
    """Writes m's children, one per line. Runs of numbered blocks with the
    same structure fold into one line (layers.0-31: LlamaDecoderLayer ×32)
    whose first block is shown once; a container of blocks is written as
    part of its blocks' names, without a level of its own."""
    for name, child in m.named_children():
        blocks = list(child.named_children())
        if type(child).__name__ in CONTAINERS and blocks and all(n.isdigit() for n, _ in blocks):
            i = 0
            while i < len(blocks):
                j, sig = i, signature(blocks[i][1])
                while j + 1 < len(blocks) and signature(blocks[j + 1][1]) == sig:
                    j += 1
                first = blocks[i][1]
                label = f"{name}.{blocks[i][0]}" + (f"-{blocks[j][0]}" if j > i else "")
                write(torch, first, label, j - i + 1, path + "." + name + "." + blocks[i][0], level, depth, lines)
                i = j + 1
            continue
        write(torch, child, name, 1, path + "." + name, level, depth, lines)


def write(torch, m, label, times, path, level, depth, lines):
    indent = "  " * level
    n = nparams(m)
    kids = list(m.named_children())
    what = type(m).__name__ if kids else leaf(torch, m)
    size = f"  {count(n)}" if n else ""
    if times > 1:
        lines.append(f"{indent}{label}: {what} ×{times}{size + ' each' if size else ''}")
    else:
        lines.append(f"{indent}{label}: {what}{size}")
    if kids and level + 1 < depth:
        tree(torch, m, path, level + 1, depth, lines)
    elif kids:
        lines.append(f"{indent}  ... {len(kids)} submodules: describe_model(\"{path}\") shows them")


def get_path(obj, path):
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def hook_points(torch, model, var):
    base, prefix = model, var
    if hasattr(model, "get_base_model"):  # PEFT
        base, prefix = model.get_base_model(), var + ".get_base_model()"
    out = []
    for p in LAYER_PATHS:
        layers = get_path(base, p)
        if isinstance(layers, torch.nn.ModuleList):
            out.append(f"hook points: decoder layers {prefix}.{p}[0..{len(layers) - 1}] (layer i's output = hidden_states[i+1]; "
                       "the toolkit skills take layer indexes, e.g. steering and activations)")
            first = layers[0] if len(layers) else None
            if first is not None:
                subs = [n for n, _ in first.named_children()]
                if subs:
                    out.append(f"  inside each layer: {', '.join(subs)} (e.g. {prefix}.{p}[0].{subs[0]})")
            break
    for p in NORM_PATHS:
        if isinstance(get_path(base, p), torch.nn.Module):
            out.append(f"  final norm: {prefix}.{p}")
            break
    for p in HEAD_PATHS:
        if isinstance(get_path(base, p), torch.nn.Module):
            out.append(f"  unembedding: {prefix}.{p}")
            break
    return out


# ---------------------------------------------------------------- install_packages


def install_packages(ns, requirements, env_dir):
    """pip-installs into a session-private environment layered over the
    kernel's own (a venv that sees the kernel's packages), so the
    interpreter the sandbox may share with others is never changed, then puts
    it first on sys.path."""
    import importlib
    import subprocess
    env_dir = os.path.join(work_dir(), env_dir)
    py = ensure_env(env_dir)
    cmd = pip_command(py)
    cmd += ["install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", *requirements]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=dict(os.environ, PIP_REQUIRE_VIRTUALENV="0"))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        print(line, end="", flush=True)
    rc = proc.wait()
    if rc != 0:
        tail = "".join(lines[-15:]).strip()
        raise UserError(f"pip exited with status {rc}; nothing was added to the kernel. pip said:\n{tail}")
    added = activate(env_dir)
    importlib.invalidate_caches()
    installed = []
    for line in lines:
        if line.startswith("Successfully installed "):
            installed = line.split()[2:]
    stale = []
    try:
        from importlib.metadata import packages_distributions
        by_dist = {}
        for mod, dists in packages_distributions().items():
            for d in dists:
                by_dist.setdefault(d.lower().replace("_", "-"), []).append(mod)
        for spec in installed:
            dist = spec.rsplit("-", 1)[0].lower().replace("_", "-")
            stale += [m for m in by_dist.get(dist, []) if m in sys.modules]
    except Exception:
        pass
    return {"installed": installed, "already_imported": sorted(set(stale)), "env": env_dir, "activated": added}


def ensure_env(env_dir):
    """Creates the session's package environment where it is missing: a venv
    that sees the kernel's own packages. Returns its python."""
    import subprocess
    py = os.path.join(env_dir, "bin", "python")
    if not os.path.exists(py):
        print(f"creating the session's package environment {env_dir}", flush=True)
        try:
            import venv  # noqa: F401
        except ImportError as e:
            raise UserError(f"the kernel's Python ({sys.executable}) cannot create environments ({e}): "
                            "start a session with python_packages instead")
        res = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", env_dir],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise UserError(f"creating {env_dir} failed: {(res.stderr or res.stdout).strip()[-500:]}")
        # The kernel's own packages (a venv's too) count as installed, so
        # pip adds only what is missing.
        import glob
        import site
        dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if os.path.isdir(p)]
        for sp in glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages")):
            with open(os.path.join(sp, "_sena_kernel_env.pth"), "w") as f:
                f.write("\n".join(dirs) + "\n")
    return py


def pip_command(env_python):
    """pip for the environment: its own, else the kernel's pip aimed at it
    (pip 22.3 and later take --python), else one ensurepip puts there."""
    import importlib.util
    import subprocess
    if subprocess.run([env_python, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return [env_python, "-m", "pip"]
    if importlib.util.find_spec("pip") is not None:
        import pip
        major, minor = (int(x) for x in pip.__version__.split(".")[:2])
        if (major, minor) >= (22, 3):
            return [sys.executable, "-m", "pip", "--python", env_python]
    res = subprocess.run([env_python, "-m", "ensurepip", "--default-pip"], capture_output=True, text=True)
    if res.returncode != 0:
        raise UserError(f"no pip to install with: the kernel's Python ({sys.executable}) has no pip 22.3 or later and no ensurepip "
                        "(Debian: python3-pip or python3-venv); start a session with python_packages instead")
    return [env_python, "-m", "pip"]


def activate(env_dir):
    """Puts the environment's site-packages first on sys.path (after the
    working directory), processing its .pth files."""
    import glob
    import site
    added = []
    for sp in glob.glob(os.path.join(env_dir, "lib", "python*", "site-packages")):
        if sp not in sys.path:
            before = list(sys.path)
            site.addsitedir(sp)
            new = [p for p in sys.path if p not in before]
            for p in new:
                sys.path.remove(p)
            at = 1 if sys.path and sys.path[0] in ("", os.getcwd()) else 0
            sys.path[at:at] = [p for p in new if p == sp]
            sys.path.extend(p for p in new if p != sp)
            added.append(sp)
    bin_dir = os.path.join(env_dir, "bin")
    if os.path.isdir(bin_dir) and bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return added


# ---------------------------------------------------------------- kernel setup and faults


def fault_log(kernel_id):
    import tempfile
    return os.path.join(tempfile.gettempdir(), f"sena-faults-{kernel_id}.log")


def work_dir():
    """The sandbox's work dir (the Jupyter root): the kernel's working
    directory when Sena set it up, whatever os.chdir did since."""
    return os.environ.get("SENA_WORK_DIR") or os.getcwd()


def faults(ns, kernel_id):
    """What is known of why the previous process of this kernel died: what
    faulthandler wrote for a fatal signal (segfault, abort, bus error), and
    whether the out-of-memory killer struck since that process started."""
    out = {"text": "", "oom": ""}
    try:
        with open(fault_log(kernel_id)) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        # "Fatal Python error: Segmentation fault", then the faulting
        # thread's stack, most recent call first.
        if len(lines) > 25:
            lines = lines[:24] + [f"  ... ({len(lines) - 24} more lines)"]
        out["text"] = "\n".join(lines)
    except OSError:
        pass
    try:
        with open(fault_log(kernel_id) + ".oom") as f:
            before = json.load(f)
    except (OSError, ValueError):
        before = {}
    now = oom_counts()
    grew = [k for k in now if k in before and now[k] > before[k]]
    if grew:
        limit = host_memory().get("limit_mib")
        where = "the sandbox's memory limit" + (f" ({limit} MiB)" if limit else "") if "cgroup" in grew else "the machine's memory"
        out["oom"] = f"the out-of-memory killer struck while it ran ({where} ran out)"
    return out


def oom_counts():
    """The kernel's count of out-of-memory kills: system-wide, and in this
    process's memory cgroup (the container's limit), where Linux tells."""
    counts = {}
    try:
        with open("/proc/vmstat") as f:
            for l in f:
                if l.startswith("oom_kill "):
                    counts["system"] = int(l.split()[1])
    except OSError:
        pass
    paths = ["/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"]
    try:
        with open("/proc/self/cgroup") as f:
            for l in f:
                parts = l.strip().split(":", 2)
                if len(parts) == 3 and parts[1] == "":
                    paths.insert(0, "/sys/fs/cgroup" + parts[2].rstrip("/") + "/memory.events")
                elif len(parts) == 3 and "memory" in parts[1].split(","):
                    paths.insert(0, "/sys/fs/cgroup/memory" + parts[2].rstrip("/") + "/memory.oom_control")
    except OSError:
        pass
    for p in paths:
        try:
            with open(p) as f:
                for l in f:
                    if l.startswith("oom_kill "):
                        counts["cgroup"] = int(l.split()[1])
            if "cgroup" in counts:
                break
        except OSError:
            continue
    return counts


def run_install(ns, command, cwd, env_dir):
    """Runs a repo's install command in its directory with the session's
    package environment first on PATH (its python, and a pip that installs
    into it), then puts that environment first on sys.path."""
    import importlib
    import shlex
    import subprocess
    env_dir = os.path.join(work_dir(), env_dir)
    py = ensure_env(env_dir)
    pip = os.path.join(env_dir, "bin", "pip")
    if not os.path.exists(pip):
        with open(pip, "w") as f:
            f.write("#!/bin/sh\nexec " + " ".join(shlex.quote(c) for c in pip_command(py)) + ' "$@"\n')
        os.chmod(pip, 0o755)
    env = dict(os.environ, PIP_REQUIRE_VIRTUALENV="0", VIRTUAL_ENV=env_dir,
               PATH=os.path.join(env_dir, "bin") + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=os.path.join(work_dir(), cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        print(line, end="", flush=True)
    rc = proc.wait()
    if rc != 0:
        raise UserError(f"exited with status {rc}:\n" + "".join(lines[-15:]).strip())
    activate(env_dir)
    importlib.invalidate_caches()
    return {"env": env_dir}


# ---------------------------------------------------------------- scoped

SCOPED_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array", dict: "object"}


def scoped_module():
    """sena_scoped, the module interface files import expose from: made in
    the kernel, so no file needs to be on the sandbox's path."""
    import types
    mod = sys.modules.get("sena_scoped")
    if mod is None:
        mod = types.ModuleType("sena_scoped", "Marks the functions a scoped sandbox offers an agent.")
        mod.EXPOSED = {}

        def expose(f):
            """Offers f to the agent as an MCP tool (its signature and docstring are the tool's schema)."""
            mod.EXPOSED[f.__name__] = f
            return f
        mod.expose = expose
        sys.modules["sena_scoped"] = mod
    return mod


def scoped_schema(name, f):
    import inspect
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError) as e:
        raise UserError(f"function {name}: no signature to offer ({e})")
    props, required = {}, []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise UserError(f"function {name}: parameter {p.name} is *args, **kwargs or positional-only; exposed functions take named parameters")
        ann = p.annotation
        if isinstance(ann, str):
            ann = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}.get(ann, ann)
        if ann not in SCOPED_TYPES:
            raise UserError(f"function {name}: parameter {p.name} is annotated {ann!r}; exposed parameters are annotated int, float, str, bool, list or dict (an agent sends JSON)")
        prop = {"type": SCOPED_TYPES[ann]}
        if p.default is p.empty:
            required.append(p.name)
        else:
            try:
                json.dumps(p.default)
            except (TypeError, ValueError):
                raise UserError(f"function {name}: the default of {p.name} is not JSON")
            prop["default"] = p.default
        props[p.name] = prop
    doc = inspect.getdoc(f) or ""
    return {"name": name, "description": doc,
            "input_schema": {"type": "object", "properties": props, "required": required, "additionalProperties": False}}


def scoped_load(ns, source, filename):
    """Runs an interface file in the kernel's namespace (so its functions
    see the preloaded model) and describes the functions it exposes."""
    mod = scoped_module()
    mod.EXPOSED.clear()
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as e:
        raise UserError(f"interface {filename}: {e}")
    try:
        exec(code, ns)
    except Exception as e:
        raise UserError(f"interface {filename} raised {type(e).__name__}: {e}")
    if not mod.EXPOSED:
        raise UserError(f"interface {filename} exposes no functions: mark them with @expose (from sena_scoped import expose)")
    return [scoped_schema(n, f) for n, f in sorted(mod.EXPOSED.items())]


def scoped_call(ns, name, args, source, filename):
    """Calls an exposed function with the agent's JSON arguments, checked
    against its signature. After a kernel restart the interface is run
    again first."""
    mod = scoped_module()
    if name not in mod.EXPOSED:
        scoped_load(ns, source, filename)
    f = mod.EXPOSED.get(name)
    if f is None:
        raise UserError(f"no tool {name}")
    schema = scoped_schema(name, f)["input_schema"]
    for k, v in args.items():
        want = schema["properties"].get(k)
        if want is None:
            raise UserError(f"{name} takes no argument {k} (it takes {', '.join(schema['properties']) or 'none'})")
        t = want["type"]
        ok = {"integer": isinstance(v, int) and not isinstance(v, bool), "number": isinstance(v, (int, float)) and not isinstance(v, bool),
              "string": isinstance(v, str), "boolean": isinstance(v, bool), "array": isinstance(v, list), "object": isinstance(v, dict)}[t]
        if not ok:
            raise UserError(f"{name}: argument {k} must be {t}")
    missing = [k for k in schema["required"] if k not in args]
    if missing:
        raise UserError(f"{name}: missing argument {', '.join(missing)}")
    try:
        result = f(**args)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    try:
        json.dumps(result)
        return {"result": result}
    except (TypeError, ValueError):
        return {"result": repr(result)}


# ---------------------------------------------------------------- snapshots


def snapshot_pack(ns, out, exclude):
    """Packs the work dir (the session's files, its package environment,
    libraries and repos; symlinks kept as links) into out, leaving out
    exclude (mount targets, the session's notebook) and Jupyter's
    checkpoints."""
    import tarfile
    root = work_dir()
    skip = {os.path.normpath(e) for e in exclude} | {out, ".ipynb_checkpoints"}

    def keep(ti):
        name = os.path.normpath(ti.name)
        if name in skip or any(name.startswith(s + os.sep) for s in skip) or "/.ipynb_checkpoints" in "/" + name:
            return None
        return ti
    with tarfile.open(os.path.join(root, out), "w:gz") as tf:
        for entry in sorted(os.listdir(root)):
            tf.add(os.path.join(root, entry), arcname=entry, filter=keep)
    return {"bytes": os.path.getsize(os.path.join(root, out))}


def snapshot_unpack(ns, path):
    """Unpacks a snapshot into the work dir and removes the archive. Member
    names that would leave the work dir are refused."""
    import tarfile
    root = work_dir()
    p = os.path.join(root, path)
    with tarfile.open(p) as tf:
        for m in tf.getmembers():
            n = os.path.normpath(m.name)
            if n.startswith("..") or os.path.isabs(n):
                raise UserError(f"snapshot member {m.name} would leave the work dir")
        if hasattr(tarfile, "tar_filter"):
            tf.extractall(root, filter="tar")
        else:
            tf.extractall(root)
    try:
        os.remove(p)
    except OSError:
        pass  # a container's provider may own the files it wrote (docker's /workspace is sticky); the next snapshot leaves it out
    return {}


def remove_file(ns, path):
    try:
        os.remove(os.path.join(work_dir(), path))
    except FileNotFoundError:
        pass
    return {}


# ---------------------------------------------------------------- libraries


def list_libraries(ns, lib):
    """The workspace's libraries as an agent needs them: each module's
    docstring and its public functions and classes with their signatures
    and first docstring line, read with ast (nothing is imported)."""
    import ast
    root = os.path.join(work_dir(), lib)
    out = []
    if not os.path.isdir(root):
        return out
    for entry in sorted(os.listdir(root)):
        p = os.path.join(root, entry)
        if entry.endswith(".py") and os.path.isfile(p):
            name, src = entry[:-3], p
        elif os.path.isfile(os.path.join(p, "__init__.py")):
            name, src = entry, os.path.join(p, "__init__.py")
        else:
            continue
        item = {"module": name, "path": os.path.relpath(p, work_dir()), "doc": "", "members": []}
        try:
            with open(src, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, UnicodeDecodeError, OSError) as e:
            item["doc"] = f"(cannot be read: {e})"
            out.append(item)
            continue
        item["doc"] = (ast.get_docstring(tree) or "")[:2000]
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if isinstance(node, ast.ClassDef):
                    sig = f"class {node.name}"
                else:
                    sig = f"{node.name}({ast.unparse(node.args)})"
                doc = (ast.get_docstring(node) or "").strip().split("\n")[0]
                item["members"].append({"signature": sig, "doc": doc})
        out.append(item)
    return out


def setup(ns, paths, kernel_id, env_dir):
    """Runs after each kernel start: the workspace and the session's package
    environment on sys.path, and a fault log that outlives a crash."""
    import faulthandler
    os.environ.setdefault("SENA_WORK_DIR", os.getcwd())
    root = work_dir()
    for p in reversed(paths):
        p = os.path.join(root, p)
        if p not in sys.path:
            sys.path.insert(0, p)
    env = os.path.join(root, env_dir)
    if os.path.isdir(env):
        activate(env)
    try:
        # faulthandler holds the file open for the life of the process.
        faulthandler.enable(file=open(fault_log(kernel_id), "w"), all_threads=False)
        with open(fault_log(kernel_id) + ".oom", "w") as f:
            json.dump(oom_counts(), f)
    except OSError:
        pass
    return {"pid": os.getpid()}


def handover(ns, env, files, paths, kernel_id, env_dir):
    """A warm kernel becomes a session's: the session's environment
    (secrets included: they are never written), its workspace files under
    the work dir, and its libraries and skills on sys.path."""
    import base64, importlib
    os.environ.update(env)
    root = work_dir()
    for rel, data in files.items():
        p = os.path.normpath(os.path.join(root, rel))
        if not p.startswith(os.path.join(root, "")):
            raise ValueError("a workspace file outside the work dir: " + rel)
        os.makedirs(os.path.dirname(p), mode=0o700, exist_ok=True)
        with open(p, "wb") as f:
            f.write(base64.b64decode(data))
        os.chmod(p, 0o600)
    # Folders looked up while they did not exist are cached as empty.
    for p in ["lib"] + list(paths):
        sys.path_importer_cache.pop(os.path.join(root, p), None)
    importlib.invalidate_caches()
    return setup(ns, paths, kernel_id, env_dir)


def warmup(ns, modules, model_paths, cuda):
    """Imports what sessions of a warm pool's config will import (torch,
    transformers, each model's architecture code), and starts CUDA, without
    binding a name in the user's namespace. A module the environment lacks
    is reported, not an error: the kernel is warm all the same."""
    import importlib, time
    took = {}
    for m in modules:
        t = time.time()
        try:
            importlib.import_module(m)
            took[m] = round(time.time() - t, 3)
        except Exception as e:  # not installed, or broken: the session finds out as a cold one would
            took[m] = "%s: %s" % (type(e).__name__, e)
    torch = sys.modules.get("torch")
    if cuda and torch is not None and torch.cuda.is_available():
        t = time.time()
        torch.cuda.init()
        torch.empty(1, device="cuda")
        took["cuda"] = round(time.time() - t, 3)
    if model_paths and "transformers" in sys.modules:
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
        for p in model_paths:
            t = time.time()
            try:
                MODEL_FOR_CAUSAL_LM_MAPPING[type(AutoConfig.from_pretrained(p))]
                took["model code " + str(model_paths.index(p) + 1)] = round(time.time() - t, 3)
            except Exception as e:
                took["model code " + str(model_paths.index(p) + 1)] = type(e).__name__
    return took


def warm_forward(ns, pairs):
    """One forward pass of each preloaded model, so a session's first call
    finds the GPU's kernels loaded and its libraries' handles made."""
    import torch
    for var, tok in pairs:
        model, tokenizer = ns.get(var), ns.get(tok)
        if model is None or tokenizer is None:
            continue
        with torch.no_grad():
            batch = tokenizer("Hello", return_tensors="pt")
            model(**batch.to(model.device))
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return {}


OPS = {"list_variables": list_variables, "gpu_status": gpu_status, "describe_model": describe_model,
       "install_packages": install_packages, "run_install": run_install, "scoped_load": scoped_load, "scoped_call": scoped_call, "snapshot_pack": snapshot_pack, "snapshot_unpack": snapshot_unpack, "remove_file": remove_file, "list_libraries": list_libraries, "faults": faults, "setup": setup,
       "handover": handover, "warmup": warmup, "warm_forward": warm_forward}
