package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// A relative --python still names the interpreter once the server runs in
// the work dir. (The link is named python3: pyenv shims dispatch on it.)
func TestInterpreterRelativePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(jupytertest.Interpreters(t)[0].Path, filepath.Join(dir, "python3")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	py, checked, err := interpreter(context.Background(), "./python3", nil, os.Environ(), nil)
	if err == nil {
		err = checked()
	}
	if err != nil || py != filepath.Join(dir, "python3") {
		t.Errorf("interpreter(./python3) = %q, %v; want %s", py, err, filepath.Join(dir, "python3"))
	}
}
