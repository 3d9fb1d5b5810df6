# Run silently in a new session's kernel by Sena (core/session/verify.go):
# it reports what the environment is, as JSON on one line, for the host to
# compare with what was asked. WANT is set before this runs.
import json as _json


def _sena_verify(want):
    import importlib, importlib.metadata as md, os, re, subprocess, sys

    out = {"python": {"executable": sys.executable, "version": sys.version.split()[0]}, "problems": []}
    bad = out["problems"].append

    # The kernel runs the interpreter its kernelspec (Sena's) names.
    for d in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
        spec = os.path.join(d, "kernels", "python3", "kernel.json")
        if d and os.path.exists(spec):
            argv0 = _json.load(open(spec))["argv"][0]
            if os.path.realpath(argv0) != os.path.realpath(sys.executable):
                bad("the kernel runs %s, not the environment's %s" % (sys.executable, argv0))
            break

    canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    dists = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name:
            dists[canon(name)] = (d.version, d)
    out["packages"] = {n: v for n, (v, _) in sorted(dists.items())}

    try:
        from packaging.requirements import Requirement
    except ImportError:
        try:
            from pip._vendor.packaging.requirements import Requirement
        except ImportError:
            Requirement = None
    for req in want.get("packages", []):
        if Requirement is not None:
            try:
                r = Requirement(req)
                name, spec = r.name, r.specifier
            except Exception as e:
                bad("package %s: not a requirement Sena can check (%s)" % (req, e))
                continue
        else:
            name, spec = re.split(r"[\s<>=!~;\[@]", req.strip(), maxsplit=1)[0], None
        got = dists.get(canon(name))
        if got is None:
            bad("package %s: not installed in the kernel's environment" % req)
            continue
        version, dist = got
        if spec is not None and not spec.contains(version, prereleases=True):
            bad("package %s: %s %s is installed, which does not satisfy it" % (req, name, version))
            continue
        top = (dist.read_text("top_level.txt") or "").split()
        if not top:
            top = [canon(name).replace("-", "_")]
        try:
            importlib.import_module(top[0])
        except Exception as e:
            bad("package %s: installed (%s %s) but `import %s` fails: %s: %s" % (req, name, version, top[0], type(e).__name__, e))

    models = []
    for m in want.get("models", []):
        path = os.environ.get(m["env_var"]) if m.get("env_var") else m.get("path")
        label = m.get("name") or m.get("id")
        if not path or not os.path.isdir(path):
            bad("model %s: its directory %s is not in the sandbox" % (label, path))
            continue
        if not os.path.exists(os.path.join(path, "config.json")):
            bad("model %s: %s has no config.json" % (label, path))
        entry = {"id": m.get("id")} if m.get("hidden") else {"name": m["name"], "revision": m.get("revision", ""), "env_var": m.get("env_var")}
        if not m.get("hidden"):
            commit = os.path.basename(os.path.realpath(path)) if os.path.basename(os.path.dirname(os.path.realpath(path))) == "snapshots" else ""
            if m.get("commit") and commit and commit != m["commit"]:
                bad("model %s: the sandbox has commit %s, not %s" % (label, commit, m["commit"]))
            entry["commit"] = commit or m.get("commit", "")
            files = []
            for f in sorted(os.listdir(path)):
                p = os.path.join(path, f)
                if re.search(r"\.(safetensors|bin|pth|pt|gguf)$", f) and os.path.isfile(p):
                    blob = os.path.basename(os.readlink(p)) if os.path.islink(p) else ""
                    files.append({"name": f, "size": os.path.getsize(p), "sha256": blob if re.fullmatch(r"[0-9a-f]{64}", blob) else ""})
            entry["weights"] = files
        models.append(entry)
    out["models"] = models

    gpu = want.get("gpu")
    probe = subprocess.run([sys.executable, "-c", _SENA_CUDA_PROBE], capture_output=True, text=True, timeout=120)
    try:
        out["gpu"] = _json.loads(probe.stdout.strip().splitlines()[-1])
    except Exception:
        out["gpu"] = {"count": 0, "error": (probe.stderr.strip().splitlines() or ["no output"])[-1]}
    if gpu:
        g = out["gpu"]
        if g.get("count", 0) != gpu["count"]:
            bad("gpu: %d %s asked for, CUDA in the kernel sees %d (%s)" % (gpu["count"], gpu["kind"], g.get("count", 0), ", ".join(g.get("names", [])) or g.get("error", "none")))
        elif not all(gpu["kind"].split("-")[0].upper() in n.upper() for n in g.get("names", [])):
            bad("gpu: %s asked for, CUDA sees %s" % (gpu["kind"], ", ".join(g["names"])))

    # Limits as the sandbox shows them: CPU affinity and cgroup quotas. A
    # backend that enforces limits outside the sandbox's view (a VM's
    # scheduler) shows none; those are reported unverified, not failed.
    affinity = len(os.sched_getaffinity(0))
    limits, unverified = {"cpus": affinity}, []
    quota = None
    try:
        q, p = open("/sys/fs/cgroup/cpu.max").read().split()
        quota = None if q == "max" else -(-int(q) // int(p))
    except (OSError, ValueError):
        pass
    if quota is not None:
        limits["cpus"] = min(affinity, quota)
    try:
        v = open("/sys/fs/cgroup/memory.max").read().strip()
        if v != "max":
            limits["memory_mib"] = int(v) >> 20
    except (OSError, ValueError):
        pass
    if want.get("cpus"):
        if quota is None and affinity >= (os.cpu_count() or affinity):
            unverified.append("cpus")
        elif limits["cpus"] != -(-want["cpus"] // 1):
            bad("cpus: %s asked for, the kernel may use %d" % (want["cpus"], limits["cpus"]))
    if want.get("memory_mib"):
        if "memory_mib" not in limits:
            unverified.append("memory_mib")
        elif limits["memory_mib"] != want["memory_mib"]:
            bad("memory: %d MiB asked for, the kernel's limit is %d MiB" % (want["memory_mib"], limits["memory_mib"]))
    if unverified:
        limits["unverified"] = unverified
    out["limits"] = limits
    return out


# Counts and names GPUs through the CUDA driver, as CUDA_VISIBLE_DEVICES
# shows them, in a child process so the kernel itself never initialises CUDA.
_SENA_CUDA_PROBE = r'''
import ctypes, json, shutil, subprocess
out = {"count": 0, "names": []}
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError:
    out["error"] = "no CUDA driver (libcuda.so.1) in the sandbox"
else:
    n, v = ctypes.c_int(0), ctypes.c_int(0)
    rc = cuda.cuInit(0)
    if rc == 0 and cuda.cuDeviceGetCount(ctypes.byref(n)) == 0:
        out["count"] = n.value
        for i in range(n.value):
            dev, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
            cuda.cuDeviceGet(ctypes.byref(dev), i)
            cuda.cuDeviceGetName(name, 256, dev)
            out["names"].append(name.value.decode())
        if cuda.cuDriverGetVersion(ctypes.byref(v)) == 0:
            out["cuda"] = "%d.%d" % (v.value // 1000, v.value % 1000 // 10)
    else:
        out["error"] = "cuInit failed with CUDA error %d" % rc
if shutil.which("nvidia-smi"):
    r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        out["driver"] = r.stdout.split()[0]
print(json.dumps(out))
'''

print("SENA-ENV " + _json.dumps(_sena_verify(WANT)))
del _sena_verify, _SENA_CUDA_PROBE, _json, WANT
