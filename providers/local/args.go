package local

import (
	"github.com/sena-labs/sena/core"
	"strconv"
	"strings"
)

// serverArgs reads the port and root dir back from a server's command line
// (the flags core.JupyterServerArgs wrote). port is 0 when argv is not a
// jupyter_server's.
func serverArgs(argv []string) (port int, root string) {
	isServer := false
	for i, a := range argv {
		switch {
		case i > 0 && (a == "jupyter_server" && argv[i-1] == "-m" || a == core.JupyterServerLauncher && argv[i-1] == "-c"):
			isServer = true
		case strings.HasPrefix(a, "--ServerApp.port="):
			port, _ = strconv.Atoi(strings.TrimPrefix(a, "--ServerApp.port="))
		case strings.HasPrefix(a, "--ServerApp.root_dir="):
			root = strings.TrimPrefix(a, "--ServerApp.root_dir=")
		}
	}
	if !isServer {
		return 0, ""
	}
	return port, root
}
