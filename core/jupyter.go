package core

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// JupyterPort is the port Jupyter listens on inside container sandboxes.
const JupyterPort = 8888

// JupyterLaunch says how a provider starts the sandbox's Jupyter server.
type JupyterLaunch struct {
	IP          string        // "127.0.0.1" on the host, "0.0.0.0" in containers
	Port        int           // chosen by the provider; never 0 (1.x cannot report it)
	RootDir     string        // notebook and working directory
	IdleTimeout time.Duration // server shuts down after this long with no activity; 0 = never
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
	if l.IP != "127.0.0.1" {
		// Tunnels and published ports rewrite the Host header.
		args = append(args, "--ServerApp.allow_remote_access=True")
	}
	if l.IdleTimeout > 0 {
		secs := int(l.IdleTimeout.Seconds())
		args = append(args,
			fmt.Sprintf("--ServerApp.shutdown_no_activity_timeout=%d", secs),
			fmt.Sprintf("--MappingKernelManager.cull_idle_timeout=%d", secs),
			"--MappingKernelManager.cull_interval=30",
		)
	}
	return args
}

// JupyterServerLauncher is Python that starts jupyter_server as
// `python -m jupyter_server` does, less a second of start-up: jsonschema's
// optional rfc3987_syntax format checker (pulled in by jupyter_events in
// jupyter_server 2.x) builds a grammar on import, over 1 s on a fast core,
// and the server never validates IRIs. Blocking that import in the server
// process only (not the kernel) cut start-up from 1.7 s to 0.4 s here.
const JupyterServerLauncher = `import sys; sys.modules["rfc3987_syntax"] = None; from jupyter_server.serverapp import launch_new_instance; launch_new_instance()`

// JupyterServerCommand is the argv after the Python interpreter that every
// provider runs: the launcher and JupyterServerArgs.
func JupyterServerCommand(l JupyterLaunch) []string {
	return append([]string{"-c", JupyterServerLauncher}, JupyterServerArgs(l)...)
}

// KernelName is the kernelspec every session's kernel is started with.
const KernelName = "python3"

// KernelSpec is Sena's kernel.json for python: the kernel runs exactly that
// interpreter, with env added to the server's environment (secrets that
// container providers keep out of the server's own).
func KernelSpec(python string, env map[string]string) []byte {
	spec := map[string]any{
		"argv":         []string{python, "-m", "ipykernel_launcher", "-f", "{connection_file}"},
		"display_name": "Python 3 (ipykernel)",
		"language":     "python",
		"metadata":     map[string]any{"debugger": true, "sena": true},
	}
	if len(env) > 0 {
		spec["env"] = env
	}
	data, _ := json.MarshalIndent(spec, "", "  ") // strings only: cannot fail
	return data
}

// WriteKernelSpec writes Sena's kernelspec for python under dataDir (a
// directory of JUPYTER_PATH, which the server searches before the system's),
// so the session's kernel runs exactly that interpreter.
func WriteKernelSpec(dataDir, python string) error {
	dir := filepath.Join(dataDir, "kernels", KernelName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "kernel.json"), KernelSpec(python, nil), 0o600)
}
