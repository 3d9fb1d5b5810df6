package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
)

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	DotEnvFile = filepath.Join(dir, ".env")
	defer func() { DotEnvFile = ".env" }()
	os.WriteFile(DotEnvFile, []byte("# comment\nexport FROM_FILE=\"file value\"\nOTHER=x\n"), 0o600)
	t.Setenv("FROM_ENV", "env value")

	got, err := resolveSecrets([]string{"FROM_ENV", "FROM_FILE"}, false)
	if err != nil || got["FROM_ENV"] != "env value" || got["FROM_FILE"] != "file value" {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = resolveSecrets([]string{"NOT_ANYWHERE"}, false)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "NOT_ANYWHERE") {
		t.Fatalf("missing secret: %v", err)
	}
	// A backend with its own secret store looks the name up itself.
	got, err = resolveSecrets([]string{"NOT_ANYWHERE", "FROM_ENV"}, true)
	if err != nil || len(got) != 1 {
		t.Fatalf("with a backend store: %v, %v", got, err)
	}
	// A malformed .env line is reported by number, never quoted.
	os.WriteFile(DotEnvFile, []byte("SECRETVALUE-without-equals\n"), 0o600)
	_, err = resolveSecrets([]string{"MISSING"}, false)
	if err == nil || strings.Contains(err.Error(), "SECRETVALUE") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("malformed .env: %v", err)
	}
}
