package core

import (
	"bytes"
	"compress/zlib"
	_ "embed"
	"encoding/base64"
	"fmt"
	"time"
)

// JupyterPort is the port Jupyter listens on inside container sandboxes.
const JupyterPort = 8888

// JupyterLaunch says how a provider starts the sandbox's Jupyter server.
type JupyterLaunch struct {
	IP          string        // "127.0.0.1" on the host, "0.0.0.0" in containers
	Port        int           // chosen by the provider; never 0 (1.x cannot report it)
	RootDir     string        // notebook and working directory
	IdleTimeout time.Duration // server shuts down after this long without kernel activity; 0 = never
	// RemoteHost turns off the server's Host check, for a server reached
	// through a tunnel under a name not known in advance (Modal). Servers
	// reached at a loopback address keep it, which guards against DNS
	// rebinding.
	RemoteHost bool
}

// JupyterServerArgs are the arguments after `python -m jupyter_server` that
// every provider uses, so all backends behave the same. The token is not
// among them: providers set JUPYTER_TOKEN in the server's environment, which
// both jupyter_server 1.x and 2.x read, and which keeps it out of `ps`.
func JupyterServerArgs(l JupyterLaunch) []string {
	args := []string{
		"--allow-root", // containers and CI run as root
		"--no-browser",
		"--ServerApp.ip=" + l.IP,
		fmt.Sprintf("--ServerApp.port=%d", l.Port),
		"--ServerApp.port_retries=0", // a busy port must fail, not move silently
		"--ServerApp.root_dir=" + l.RootDir,
		// The defaults drop iopub output past 1 MB/s, which would make the
		// notebook silently wrong for chatty cells.
		"--ServerApp.iopub_data_rate_limit=1e10",
		"--ServerApp.iopub_msg_rate_limit=1e6",
	}
	// jupyter_server turns its Host check off by itself when it listens on
	// all interfaces (in containers), so it is set either way.
	remote := "False"
	if l.RemoteHost {
		remote = "True"
	}
	args = append(args, "--ServerApp.allow_remote_access="+remote)
	return args
}

// JupyterServerLauncher is Python that starts jupyter_server as
// `python -m jupyter_server` does, with two differences.
//
// It is a second faster: jsonschema's optional rfc3987_syntax format
// checker (pulled in by jupyter_events in jupyter_server 2.x) builds a
// grammar on import, over 1 s on a fast core, and the server never
// validates IRIs. Blocking that import in the server process only (not the
// kernel) cut start-up from 1.7 s to 0.4 s here.
//
// It pins the kernel to the server's own interpreter, the environment Sena
// made: a kernelspec of Sena's own (python3, argv sys.executable) is written
// to a fresh directory (under JUPYTER_RUNTIME_DIR when set, which the local
// provider removes with the sandbox) put first in JUPYTER_PATH, so a kernelspec the image
// or host has for another Python (Debian's ipykernel installs one for
// /usr/bin/python3) is never the one started.
//
// With SENA_KERNEL_ENV_FILE naming a JSON object of variables, the
// kernelspec's env carries them: every kernel gets them, the server's own
// environment does not (container providers keep secrets out of the
// container's inspectable config this way).
//
// It enforces Sena's lifetime rules: with --sena-idle-timeout=SECONDS, the
// server stops (SIGTERM to itself: it shuts its kernels down and exits)
// once no kernel has been busy (or starting, which under load takes
// seconds; at most 20 s of it counts, as a server that missed the
// kernel's first status would see it starting forever) or produced output
// for that long, whether or not clients are
// connected. A server that has had no kernel yet waits at least 60 s for
// its first (the caller starts one once the server answers, which under
// load takes seconds). jupyter_server's own culler skips
// connected kernels, and its shutdown timer counts any API request as
// activity, so an agent holding a connection would keep a GPU forever.
//
// It serves POST /api/sena/handover (token required, like every API
// call), by which a warm sandbox becomes a session's (see HandoverRequest):
// the session's environment is merged into the server's and into the
// launch environment of its kernels (a restarted kernel has it, as a
// session that started cold has), and the idle rule and a deadline are
// replaced by the session's. Nothing of it is written anywhere.
//
// It loads Sena's notebook service (notebookservice.py, carried compressed
// in the command line itself, so no provider copies a file): the HTTP API
// at sena/api/notebook through which Sena edits the session's notebook,
// live in the shared document where real-time collaboration is installed,
// and records the outputs of the cells it runs. See docs/architecture.md.
var JupyterServerLauncher = launcherHead + notebookServiceLoader()

//go:embed notebookservice.py
var notebookServiceSource []byte

// notebookServiceLoader is the launcher's part that loads the service when
// the server's web app exists; a service that fails to load is logged and
// the server runs without it (Sena then saves whole notebooks).
func notebookServiceLoader() string {
	var b bytes.Buffer
	w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	w.Write(notebookServiceSource)
	w.Close()
	return fmt.Sprintf(`
try:
    import base64 as _b64, types as _types, zlib as _zlib
    _svc = _types.ModuleType("sena_notebook")
    _svc.__file__ = "<sena>/notebookservice.py"
    exec(compile(_zlib.decompress(_b64.b64decode("%s")).decode(), _svc.__file__, "exec"), _svc.__dict__)
    sys.modules["sena_notebook"] = _svc
    _init_webapp = ServerApp.init_webapp
    def _init_webapp_sena(self, *a, **k):
        _init_webapp(self, *a, **k)
        _svc.load(self)
    ServerApp.init_webapp = _init_webapp_sena
except Exception as _e:
    print("Sena: the notebook service did not load:", repr(_e), file=sys.stderr)
launch_new_instance()`, base64.StdEncoding.EncodeToString(b.Bytes()))
}

const launcherHead = `import json, os, signal, sys, tempfile, threading, time
sys.modules["rfc3987_syntax"] = None
_r = os.environ.get("JUPYTER_RUNTIME_DIR")
if _r:
    os.makedirs(_r, mode=0o700, exist_ok=True)
_d = tempfile.mkdtemp(prefix="sena-kernels-", dir=_r)
os.makedirs(os.path.join(_d, "kernels", "python3"))
_spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "Python 3 (ipykernel)", "language": "python",
         "metadata": {"debugger": True, "sena": True}}
_ef = os.environ.pop("SENA_KERNEL_ENV_FILE", None)
if _ef:
    with open(_ef) as _f:
        _spec["env"] = json.load(_f)
with open(os.path.join(_d, "kernels", "python3", "kernel.json"), "w") as _f:
    json.dump(_spec, _f)
os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (_d, os.environ.get("JUPYTER_PATH")) if p)
from jupyter_server.serverapp import ServerApp, launch_new_instance
_sena = {"idle": 0.0, "deadline": 0.0, "reset": False, "wake": threading.Event()}
def _sena_watch(app):
    last, starting, kernels = time.time(), {}, False
    while True:
        idle, deadline = _sena["idle"], _sena["deadline"]
        step = max(1.0, min(30.0, idle / 5)) if idle > 0 else 30.0
        if deadline > 0:
            step = min(step, max(0.05, deadline - time.time()))
        _sena["wake"].wait(step)
        _sena["wake"].clear()
        now = time.time()
        if _sena["reset"]:
            _sena["reset"], last = False, now
        try:
            km = app.kernel_manager
            for kid in list(km.list_kernel_ids()):
                kernels = True
                k = km.get_kernel(kid)
                state = getattr(k, "execution_state", "idle")
                since = starting.setdefault(kid, now) if state == "starting" else starting.pop(kid, None)
                if state == "busy" or (state == "starting" and now - since < 20):
                    last = now
                if getattr(k, "last_activity", None) is not None:
                    last = max(last, k.last_activity.timestamp())
        except Exception:
            last = now  # no view of the kernels: never idle on a guess
        why = ""
        if _sena["deadline"] > 0 and now >= _sena["deadline"]:
            why = "its lifetime ended"
        elif _sena["idle"] > 0 and now - last > (_sena["idle"] if kernels else max(_sena["idle"], 60)):
            why = "no kernel activity for %ds" % (now - last)
        if why:
            app.log.info("Sena: %s; shutting down", why)
            os.kill(os.getpid(), signal.SIGTERM)
            return
def _sena_handler():
    from jupyter_server.base.handlers import APIHandler
    from tornado import web
    class Handover(APIHandler):
        @web.authenticated
        def post(self):
            body = json.loads(self.request.body or b"{}")
            env = {str(k): str(v) for k, v in (body.get("env") or {}).items()}
            os.environ.update(env)
            km = self.settings["kernel_manager"]
            for kid in list(km.list_kernel_ids()):
                la = getattr(km.get_kernel(kid), "_launch_args", None)
                if isinstance(la, dict) and isinstance(la.get("env"), dict):
                    la["env"].update(env)
            if "idle_timeout" in body:
                _sena["idle"] = float(body["idle_timeout"] or 0)
            if "lifetime" in body:
                _sena["deadline"] = time.time() + float(body["lifetime"]) if body["lifetime"] else 0.0
            _sena["reset"] = True
            _sena["wake"].set()
            self.finish(json.dumps({"idle_timeout": _sena["idle"], "lifetime": max(0.0, _sena["deadline"] - time.time()) if _sena["deadline"] else 0}))
    return Handover
for _a in list(sys.argv[1:]):
    if _a.startswith("--sena-idle-timeout="):
        _sena["idle"] = float(_a.split("=", 1)[1])
        sys.argv.remove(_a)
_start = ServerApp.start
def _start_watched(self):
    from jupyter_server.utils import url_path_join
    self.web_app.add_handlers(".*$", [(url_path_join(self.base_url, "api/sena/handover"), _sena_handler())])
    threading.Thread(target=_sena_watch, args=(self,), daemon=True).start()
    _start(self)
ServerApp.start = _start_watched`

// HandoverPath is where the launcher takes a HandoverRequest, relative to
// the server's base URL.
const HandoverPath = "api/sena/handover"

// HandoverRequest is the body of a POST to HandoverPath. Env is merged into
// the server's environment and its kernels' launch environment (secret
// values included: it is sent, never stored); IdleTimeout and Lifetime,
// when set, replace the server's rules (0 turns a rule off), counted from
// the handover.
type HandoverRequest struct {
	Env         map[string]string `json:"env,omitempty"`
	IdleTimeout *float64          `json:"idle_timeout,omitempty"` // seconds
	Lifetime    *float64          `json:"lifetime,omitempty"`     // seconds from now
}

// JupyterServerCommand is the argv after the Python interpreter that every
// provider runs: the launcher, Sena's idle rule, and JupyterServerArgs.
func JupyterServerCommand(l JupyterLaunch) []string {
	argv := []string{"-c", JupyterServerLauncher}
	if l.IdleTimeout > 0 {
		argv = append(argv, fmt.Sprintf("--sena-idle-timeout=%d", int(l.IdleTimeout.Seconds()+0.5)))
	}
	return append(argv, JupyterServerArgs(l)...)
}
