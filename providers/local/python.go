package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sena-labs/sena/core"
)

// serverPackages are what every environment Sena builds must hold:
// JupyterLab so that the session's URL opens the notebook in a browser, and
// its real-time collaboration, so that the page and Sena edit one live
// document (Sena's notebook service writes into it; see
// docs/architecture.md). Pinned together: jupyter-collaboration 5.0 needs
// JupyterLab 4.6 and jupyter_server 2.19 or later, and the service uses
// jupyter_ydoc 4.2's notebook model.
var serverPackages = []string{
	"jupyter_server>=2.19,<3",
	"ipykernel",
	"jupyterlab>=4.6,<4.7",
	"jupyter-collaboration==5.0.4",
	"jupyter-server-ydoc>=3.0.4,<3.1",
	"jupyter-ydoc>=4.2,<4.3",
}

// interpreter returns the Python that runs the server: the python option as
// given, or a cached virtual environment built for the packages. With the user's own
// interpreter, checked reports (waiting if need be) whether it can run
// Jupyter: the check runs while the server starts, since it costs as long
// as a Python start and the answer is almost always yes.
func interpreter(ctx context.Context, python string, packages []string, env []string, progress func(core.Progress)) (py string, checked func() error, err error) {
	built := func() error { return nil } // Sena's environments hold Jupyter
	if python == "" {
		base, err := exec.LookPath("python3")
		if err != nil {
			return "", nil, core.Errorf(core.ErrInvalidConfig, "python3 is not on PATH: install Python 3 (with the venv module), or pass --python with an interpreter that has jupyter_server and ipykernel")
		}
		pkgs := append(append([]string{}, serverPackages...), packages...)
		py, err := ensureVenv(ctx, venvSpec{Base: base, Packages: pkgs}, progress)
		return py, built, err
	}
	py, err = exec.LookPath(python)
	if err == nil {
		py, err = filepath.Abs(py) // the server runs in the work dir
	}
	if err != nil {
		return "", nil, core.Errorf(core.ErrInvalidConfig, "python %s: not found or not executable (%v); give the path of a Python 3 interpreter, or drop --python to let Sena build an environment", python, err)
	}
	result := make(chan error, 1)
	go func() { result <- checkJupyter(ctx, py, env) }()
	checked = sync.OnceValue(func() error { return <-result })
	if len(packages) == 0 {
		return py, checked, nil
	}
	// The user's interpreter keeps its own packages (jupyter among them);
	// the requested ones go into a venv on top of it.
	if err := checked(); err != nil {
		return "", nil, err
	}
	py, err = ensureVenv(ctx, venvSpec{Base: py, Packages: packages, SystemSite: true}, progress)
	return py, built, err
}

// checkJupyter makes sure py can run the server and its kernels, so a wrong
// --python fails at once with a fix rather than as a dead server.
func checkJupyter(ctx context.Context, py string, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", "import jupyter_server, ipykernel")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("checking python %s: %w", py, ctx.Err())
		}
		why := lastLine(stderr.String())
		if why == "" {
			why = err.Error()
		}
		return core.Errorf(core.ErrInvalidConfig, "python %s cannot run Jupyter (%s): install them with `%s -m pip install jupyter_server ipykernel`, or drop --python to let Sena build an environment", py, why, py)
	}
	return nil
}

// cacheDir is $SENA_CACHE_DIR, $XDG_CACHE_HOME/sena or ~/.cache/sena.
func cacheDir() (string, error) {
	if d := os.Getenv("SENA_CACHE_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sena"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no cache directory: set SENA_CACHE_DIR")
	}
	return filepath.Join(home, ".cache", "sena"), nil
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
