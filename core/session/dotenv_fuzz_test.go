package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDotEnv: any .env file parses or fails, and a failure never quotes the
// file's lines (they hold secrets).
func FuzzDotEnv(f *testing.F) {
	for _, seed := range []string{"HF_TOKEN=hf_abc\n", "export A='b c'\n# comment\n\nB=\"d\"\n", "no equals sign here\n", "=\n", "A=" + strings.Repeat("x", 70000) + "\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readDotEnv(path)
		if err == nil {
			return
		}
		for _, line := range strings.Split(content, "\n") {
			if v := strings.TrimSpace(line); len(v) >= 8 && strings.Contains(err.Error(), v) {
				t.Fatalf("the error quotes a line of the file: %v", err)
			}
		}
	})
}
