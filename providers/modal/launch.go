package modal

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// workDir is the Jupyter root in the sandbox; the image recipe creates it.
const workDir = "/workspace"

// Linux caps one argument at 128 KiB, so the files travel in chunks, and
// the whole at 2 MiB with the environment; 1 MiB leaves room for both.
const (
	filesChunk = 96 << 10
	filesMax   = 1 << 20
)

// bootstrap writes the workspace files, then becomes jupyter_server.
// argv: ROOT N CHUNK1..CHUNKN JUPYTER_ARGS...; the chunks join into a JSON
// object of relative path -> base64 content (Go's encoding of []byte).
const bootstrap = `import base64, json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
files = json.loads("".join(sys.argv[3:3 + n]))
for rel, data in files.items():
    dest = os.path.join(root, rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "wb") as f:
        f.write(base64.b64decode(data))
os.makedirs(root, exist_ok=True)
os.chdir(root)
os.execv(sys.executable, [sys.executable] + sys.argv[3 + n:])
`

// jupyterCommand is the sandbox's entrypoint: the bootstrap above, then
// jupyter_server with the flags every provider uses. The token is not in
// it: it reaches the server as JUPYTER_TOKEN through a Modal secret.
func jupyterCommand(files map[string][]byte, idle time.Duration) ([]string, error) {
	for rel := range files {
		clean := path.Clean(rel)
		if rel == "" || path.IsAbs(rel) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(rel, `\`) {
			return nil, core.Errorf(core.ErrInvalidConfig, "workspace file %q: want a relative path inside the workspace", rel)
		}
	}
	if files == nil {
		files = map[string][]byte{}
	}
	payload, err := json.Marshal(files)
	if err != nil {
		return nil, err
	}
	if len(payload) > filesMax {
		return nil, core.Errorf(core.ErrInvalidConfig, "workspace files take %d KiB encoded; the Modal provider carries at most %d KiB: put large data in a package or a model volume", len(payload)>>10, filesMax>>10)
	}
	var chunks []string
	for s := string(payload); len(s) > 0; {
		n := min(len(s), filesChunk)
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	cmd := []string{"python3", "-c", bootstrap, workDir, strconv.Itoa(len(chunks))}
	cmd = append(cmd, chunks...)
	return append(cmd, core.JupyterServerCommand(core.JupyterLaunch{
		IP:          "0.0.0.0",
		Port:        core.JupyterPort,
		RootDir:     workDir,
		IdleTimeout: idle,
		RemoteHost:  true, // reached through Modal's tunnel, whose host name is Modal's
	})...), nil
}
