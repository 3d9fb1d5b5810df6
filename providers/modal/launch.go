package modal

import (
	"archive/tar"
	"bytes"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// workDir is the Jupyter root in the sandbox; the image recipe creates it.
const workDir = "/workspace"

// Workspace files reach the sandbox as one tar written through Modal's
// filesystem API after the container starts, not in its command line:
// Modal caps a sandbox's entrypoint arguments at argMaxBytes in all.
const (
	// argMaxBytes is Modal's limit on the entrypoint arguments' total
	// length (ARG_MAX_BYTES in the Python client, ValidateExecArgs in
	// libmodal).
	argMaxBytes = 1 << 16
	// filesMax bounds the workspace files: libraries and skills, not data
	// (Modal's filesystem API takes at most 1 GiB per file).
	filesMax = 100 << 20
	// filesBundle is where the tar goes; /tmp exists in every image. The
	// bootstrap waits for filesBundle+".ready", written after it.
	filesBundle = "/tmp/sena-workspace.tar"
	// filesWait is how long the bootstrap waits for the files before it
	// exits, so that a sandbox whose sena died does not bill until its
	// timeout.
	filesWait = 3 * time.Minute
)

// bootstrap runs before Jupyter: it waits for the workspace files, unpacks
// them, checks that every model volume holds a complete download of the
// commit this session expects (the marker the download wrote), then
// becomes jupyter_server. argv: ROOT BUNDLE WAIT_SECONDS N PATH1 COMMIT1 ...
// PATHN COMMITN JUPYTER_ARGS... (paths as arguments of their own, where
// the command line shows them). A failure exits non-zero with the reason
// on stderr, which Create reports.
const bootstrap = `import json, os, sys, tarfile, time
root, bundle, wait, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
models = list(zip(sys.argv[5:5 + 2 * n:2], sys.argv[6:6 + 2 * n:2]))
jupyter = sys.argv[5 + 2 * n:]
ready = bundle + ".ready"
deadline = time.monotonic() + wait
while not os.path.exists(ready):
    if time.monotonic() > deadline:
        sys.exit(f"sena bootstrap: the workspace files did not arrive within {wait:.0f}s (did sena stop during up?)")
    time.sleep(0.2)
os.makedirs(root, exist_ok=True)
with tarfile.open(bundle) as tar:
    for m in tar:
        if m.isfile():
            dest = os.path.join(root, m.name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(tar.extractfile(m).read())
os.remove(bundle)
os.remove(ready)
def problem(path, commit):
    try:
        with open(os.path.join(path, ".sena-complete")) as f:
            done = json.load(f)
    except (OSError, ValueError) as e:
        return f"no complete download in it ({e})"
    if done.get("commit") != commit:
        return f"it holds commit {done.get('commit')}, this session expects {commit}"
    for name, size in done.get("files", {}).items():
        try:
            got = os.path.getsize(os.path.join(path, name))
        except OSError:
            return f"{name} is missing"
        if got != size:
            return f"{name} has {got} bytes, the Hub lists {size}"
    return None
for path, commit in models:
    why = problem(path, commit)
    if why:
        sys.exit(f"sena bootstrap: the model volume at {path} is not a complete download: {why}; run up again to repair it")
os.chdir(root)
os.execv(sys.executable, [sys.executable] + jupyter)
`

// modelCheck is one model the bootstrap verifies: its mount path and the
// commit its volume must hold.
type modelCheck struct {
	path, commit string
}

// jupyterCommand is the sandbox's entrypoint: the bootstrap above, then
// jupyter_server with the flags every provider uses. The token is not in
// it: it reaches the server as JUPYTER_TOKEN through a Modal secret. Sena's
// idle rule is Jupyter's (kernel activity), not Modal's idle timeout, which
// counts only tunnel connections.
func jupyterCommand(idle time.Duration, models []modelCheck) ([]string, error) {
	cmd := []string{"python3", "-c", bootstrap, workDir, filesBundle, strconv.Itoa(int(filesWait.Seconds())), strconv.Itoa(len(models))}
	for _, m := range models {
		cmd = append(cmd, m.path, m.commit)
	}
	cmd = append(cmd, core.JupyterServerCommand(core.JupyterLaunch{
		IP:          "0.0.0.0",
		Port:        core.JupyterPort,
		RootDir:     workDir,
		IdleTimeout: idle,
		RemoteHost:  true, // reached through Modal's tunnel, whose host name is Modal's
	})...)
	return cmd, checkArgs(cmd)
}

// checkArgs refuses a command line Modal would refuse, before any call.
func checkArgs(cmd []string) error {
	total := 0
	for _, a := range cmd {
		total += len(a)
	}
	if total > argMaxBytes {
		return core.Errorf(core.ErrInvalidConfig, "modal: the sandbox's command line takes %d bytes; Modal accepts at most %d", total, argMaxBytes)
	}
	return nil
}

// filesTar packs the workspace files, after checking their paths, into the
// tar the bootstrap unpacks.
func filesTar(files map[string][]byte) ([]byte, error) {
	total := 0
	for rel, data := range files {
		clean := path.Clean(rel)
		if rel == "" || path.IsAbs(rel) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(rel, `\`) {
			return nil, core.Errorf(core.ErrInvalidConfig, "workspace file %q: want a relative path inside the workspace", rel)
		}
		total += len(data)
	}
	if total > filesMax {
		return nil, core.Errorf(core.ErrInvalidConfig, "workspace files take %d MiB; the Modal provider carries at most %d MiB: put large data in a package or a model volume", total>>20, filesMax>>20)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		data := files[rel]
		if err := tw.WriteHeader(&tar.Header{Name: path.Clean(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
