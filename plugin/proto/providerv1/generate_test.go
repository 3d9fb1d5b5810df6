package providerv1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// protocVersionLine matches the header lines that name the protoc release,
// which differ between machines without the code differing.
var protocVersionLine = regexp.MustCompile(`(?m)^// (\t|- )protoc +v.*\n`)

// TestGeneratedCodeIsFresh regenerates the code from provider.proto and
// compares it with the committed files. Outside CI it skips where protoc and
// the Go generators are missing; CI (scripts/setup-test-env installs them,
// pinned) must run it.
func TestGeneratedCodeIsFresh(t *testing.T) {
	for _, tool := range []string{"protoc", "protoc-gen-go", "protoc-gen-go-grpc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not on PATH: scripts/setup-test-env installs it", tool)
			}
			t.Skipf("%s not on PATH; cannot check the generated code", tool)
		}
	}
	// Read the source here so that `go test` caching notices when it changes.
	if _, err := os.ReadFile("provider.proto"); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("protoc", "--proto_path=.",
		"--go_out="+out, "--go_opt=paths=source_relative",
		"--go-grpc_out="+out, "--go-grpc_opt=paths=source_relative",
		"provider.proto")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, msg)
	}
	for _, name := range []string{"provider.pb.go", "provider_grpc.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		want = protocVersionLine.ReplaceAll(want, nil)
		got = protocVersionLine.ReplaceAll(got, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./plugin/proto/...` and commit the result", name)
		}
	}
}
