package modal

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Python that runs inside Modal is run here too: the download script
// with the real huggingface_hub against a test Hub, the bootstrap with a
// stub jupyter_server.

func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	return py
}

func writeStub(t *testing.T, dir, rel, src string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runScript runs code with args and extra environment; it returns the exit
// code and the combined output.
func runScript(t *testing.T, py, code string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(py, append([]string{"-c", code}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// writeManifest writes the download's manifest and its ready mark.
func writeManifest(t *testing.T, dir string, m manifest) string {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "manifest.json")
	writeStub(t, dir, "manifest.json", string(data))
	writeStub(t, dir, "manifest.json.ready", "")
	return path
}

func TestDownloadScriptChecksEveryFileBeforeTheMarker(t *testing.T) {
	py := hfPython(t)
	hub := startHub(t)
	files := tinyModel()
	commit := hub.AddRepo("org/tiny", "main", files)
	vol := filepath.Join(t.TempDir(), "vol")
	man := manifest{Repo: "org/tiny", Revision: "main", Commit: commit,
		Files: map[string]int64{"config.json": int64(len(files["config.json"])), "model.safetensors": int64(len(files["model.safetensors"]))}}
	path := writeManifest(t, t.TempDir(), man)
	marker := filepath.Join(vol, markerFile)

	// An interrupted download left a truncated weight file and no marker.
	writeStub(t, vol, "config.json", string(files["config.json"]))
	writeStub(t, vol, "model.safetensors", "partial")
	// With the Hub unreachable from the sandbox, snapshot_download hands
	// back the directory as it is: the script must not mark it complete.
	code, out := runScript(t, py, downloadScript, []string{"HF_HUB_OFFLINE=1"}, path, "5", vol)
	if code != exitIncomplete || !strings.Contains(out, "model.safetensors") {
		t.Fatalf("offline run over a partial download: exit %d, want %d naming the short file\n%s", code, exitIncomplete, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a partial download was marked complete")
	}

	// Online, it completes, fetching the selected files only, and records the commit.
	code, out = runScript(t, py, downloadScript, nil, path, "5", vol)
	if code != 0 {
		t.Fatalf("download: exit %d\n%s", code, out)
	}
	var done struct {
		Commit string           `json:"commit"`
		Files  map[string]int64 `json:"files"`
	}
	data, err := os.ReadFile(marker)
	if err != nil || json.Unmarshal(data, &done) != nil || done.Commit != commit || len(done.Files) != 2 {
		t.Fatalf("marker = %s (%v), want commit %s and the two files", data, err, commit)
	}
	if fi, err := os.Stat(filepath.Join(vol, "model.safetensors")); err != nil || fi.Size() != man.Files["model.safetensors"] {
		t.Errorf("model.safetensors in the volume: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(vol, "pytorch_model.bin")); err == nil {
		t.Error("the .bin copy of the weights was downloaded too")
	}

	// Next time it is a no-op: no transfer.
	before := hub.Downloads("org/tiny", "main", "model.safetensors")
	if code, out := runScript(t, py, downloadScript, nil, path, "5", vol); code != 0 || !strings.Contains(out, "already in the volume") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	if after := hub.Downloads("org/tiny", "main", "model.safetensors"); after != before {
		t.Errorf("the second run downloaded the weights again (%d -> %d)", before, after)
	}

	// A marker of another commit is not trusted: it is removed, and the
	// files are checked again.
	writeStub(t, vol, markerFile, `{"commit": "0000000000000000000000000000000000000000", "files": {"model.safetensors": 7}}`)
	writeStub(t, vol, "model.safetensors", "partial")
	if code, out := runScript(t, py, downloadScript, []string{"HF_HUB_OFFLINE=1"}, path, "5", vol); code != exitIncomplete {
		t.Errorf("a stale marker over a partial file: exit %d, want %d\n%s", code, exitIncomplete, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the stale marker survived")
	}
}

func TestDownloadScriptGatedAndMissingManifest(t *testing.T) {
	py := hfPython(t)
	hub := startHub(t)
	commit := hub.AddRepo("org/gated", "main", tinyModel())
	hub.AddToken("hf_granted")
	hub.Gate("org/gated", "hf_granted")
	vol := filepath.Join(t.TempDir(), "vol")
	path := writeManifest(t, t.TempDir(), manifest{Repo: "org/gated", Revision: "main", Commit: commit,
		Files: map[string]int64{"model.safetensors": 65536}})
	if code, out := runScript(t, py, downloadScript, nil, path, "5", vol); code != exitConfig {
		t.Errorf("gated model without a token: exit %d, want %d\n%s", code, exitConfig, out)
	}
	if code, out := runScript(t, py, downloadScript, []string{"HF_TOKEN=hf_granted"}, path, "5", vol); code != 0 {
		t.Errorf("gated model with a granted token: exit %d\n%s", code, out)
	}
	start := time.Now()
	if code, out := runScript(t, py, downloadScript, nil, filepath.Join(t.TempDir(), "never.json"), "1", vol); code != exitNoManifest {
		t.Errorf("no manifest: exit %d, want %d\n%s", code, exitNoManifest, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("waited %s for a manifest given 1 s", d)
	}
}

// bootstrapRun runs the session's bootstrap here: it unpacks files into
// root and checks models, then runs a stub jupyter_server that reports its
// argv, cwd and a file.
func bootstrapRun(t *testing.T, files map[string][]byte, models []modelCheck, deliverFiles bool) (int, string, string) {
	wait := "5"
	if !deliverFiles {
		wait = "1"
	}
	t.Helper()
	py := python(t)
	stubs, root, tmp := t.TempDir(), filepath.Join(t.TempDir(), "workspace"), t.TempDir()
	writeStub(t, stubs, "jupyter_server/__init__.py", "")
	writeStub(t, stubs, "jupyter_server/serverapp.py", `import json, os, sys
class ServerApp:
    def init_webapp(self):
        pass
    def start(self):
        pass
def launch_new_instance():
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "probe": open("lib/probe.py").read()}))
`)
	cmd, err := jupyterCommand(10*time.Minute, models)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cmd, fmt.Sprintf("--sena-idle-timeout=%d", 600)) {
		t.Errorf("the command does not give Sena's idle rule to the launcher: %q", cmd[len(cmd)-12:])
	}
	if cmd[0] != "python3" || cmd[3] != workDir || cmd[4] != filesBundle {
		t.Fatalf("command = %q...", cmd[:5])
	}
	bundle := filepath.Join(tmp, "bundle.tar")
	cmd[3], cmd[4], cmd[5] = root, bundle, wait // run it here, not in /workspace
	if deliverFiles {
		data, err := filesTar(files)
		if err != nil {
			t.Fatal(err)
		}
		writeStub(t, tmp, "bundle.tar", string(data))
		writeStub(t, tmp, "bundle.tar.ready", "")
	}
	c := exec.Command(py, cmd[1:]...)
	c.Env = append(os.Environ(), "PYTHONPATH="+stubs)
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out), root
}

func TestBootstrapWritesFilesThenExecsJupyter(t *testing.T) {
	files := map[string][]byte{
		"lib/probe.py": []byte("print('hi')\n"),
		"big.txt":      []byte(strings.Repeat("x", 3*argMaxBytes)), // would never fit in argv
	}
	vol := t.TempDir()
	writeStub(t, vol, "model.safetensors", "12345")
	writeStub(t, vol, markerFile, `{"commit": "abc", "files": {"model.safetensors": 5}}`)
	code, out, root := bootstrapRun(t, files, []modelCheck{{path: vol, commit: "abc"}}, true)
	if code != 0 {
		t.Fatalf("bootstrap: exit %d\n%s", code, out)
	}
	var got struct {
		Argv  []string
		Cwd   string
		Probe string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stub output %q: %v", out, err)
	}
	if big, err := os.ReadFile(filepath.Join(root, "big.txt")); err != nil || len(big) != 3*argMaxBytes {
		t.Errorf("big.txt in the workspace: %d bytes, %v", len(big), err)
	}
	if got.Probe != "print('hi')\n" || got.Cwd != root {
		t.Errorf("files or cwd wrong: %+v", got)
	}
	for _, want := range []string{"--ServerApp.port=8888", "--ServerApp.ip=0.0.0.0", "--ServerApp.allow_remote_access=True"} {
		if !slices.Contains(got.Argv, want) {
			t.Errorf("jupyter_server argv lacks %s: %q", want, got.Argv)
		}
	}
}

func TestBootstrapRefusesAnIncompleteModelVolume(t *testing.T) {
	files := map[string][]byte{"lib/probe.py": []byte("print('hi')\n")}
	cases := map[string]func(vol string){
		"no marker": func(vol string) { writeStub(t, vol, "model.safetensors", "12345") },
		"other commit": func(vol string) {
			writeStub(t, vol, "model.safetensors", "12345")
			writeStub(t, vol, markerFile, `{"commit": "old", "files": {"model.safetensors": 5}}`)
		},
		"short file": func(vol string) {
			writeStub(t, vol, "model.safetensors", "123")
			writeStub(t, vol, markerFile, `{"commit": "abc", "files": {"model.safetensors": 5}}`)
		},
	}
	for name, fill := range cases {
		t.Run(name, func(t *testing.T) {
			vol := t.TempDir()
			fill(vol)
			code, out, _ := bootstrapRun(t, files, []modelCheck{{path: vol, commit: "abc"}}, true)
			if code == 0 || !strings.Contains(out, "not a complete download") || strings.Contains(out, `"argv"`) {
				t.Errorf("bootstrap over a bad volume: exit %d, want a refusal before Jupyter\n%s", code, out)
			}
		})
	}
	t.Run("files never arrive", func(t *testing.T) {
		code, out, _ := bootstrapRun(t, files, nil, false)
		if code == 0 || !strings.Contains(out, "did not arrive") {
			t.Errorf("bootstrap without files: exit %d\n%s", code, out)
		}
	})
}
