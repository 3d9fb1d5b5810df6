package sena_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sena-labs/sena"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
)

// TestMain gives the Example what a researcher's machine has: a Hub
// serving the model (here a test Hub with a tiny Llama), a state dir, and a
// Python with jupyter_server for the local provider.
func TestMain(m *testing.M) {
	py := jupyterPython()
	if py == "" {
		fmt.Fprintln(os.Stderr, "no python3 with jupyter_server and ipykernel: the Example cannot run")
		if os.Getenv("CI") != "" {
			os.Exit(1)
		}
		os.Exit(0)
	}
	hub := hubtest.Start()
	hub.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	tmp, err := os.MkdirTemp("", "sena-example")
	if err != nil {
		panic(err)
	}
	for k, v := range map[string]string{
		"HF_ENDPOINT": hub.URL, "HF_HUB_CACHE": tmp + "/hf", "HF_TOKEN": "", "SENA_STATE_DIR": tmp + "/state",
		"SENA_PYTHON": py, "SENA_PROVIDER": "local",
	} {
		os.Setenv(k, v)
	}
	code := m.Run()
	// Examples run after the tests: here is where Example's Down is checked
	// (and whatever a failed test left is stopped).
	if left := sessionsLeft(); left != "" {
		fmt.Fprintf(os.Stderr, "sessions left running after the tests and Example: %s\n", left)
		code = 1
	}
	hub.Close()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func sessionsLeft() string {
	client, err := sena.New(sena.Params{})
	if err != nil {
		return err.Error()
	}
	recs, err := client.Manager().Store().List()
	if err != nil {
		return err.Error()
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		_ = client.Manager().Down(context.Background(), r.ID)
	}
	return strings.Join(ids, ", ")
}

func jupyterPython() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import jupyter_server, ipykernel").Run() == nil {
			return py
		}
	}
	return ""
}

// TestClientsShareSessions: a session one Client started is found by
// another (as by the CLI) from a prefix of its id; Progress hears the model
// step; Down leaves no record.
func TestClientsShareSessions(t *testing.T) {
	client, err := sena.New(sena.Params{})
	if err != nil {
		t.Fatal(err)
	}
	var steps []core.Progress
	client2, _ := sena.New(sena.Params{Progress: func(p core.Progress) { steps = append(steps, p) }})
	ctx := context.Background()
	sb, err := client2.Up(ctx, &sena.Config{Models: []sena.Model{{Name: "sena-test/tiny-llama"}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range steps {
		found = found || p.Step == "model sena-test/tiny-llama" && p.Finished
	}
	if !found {
		t.Errorf("progress %+v: want the model's step, finished", steps)
	}
	// Another client (another process, the CLI) finds it by a prefix of its id.
	again, err := client.Attach(ctx, sb.ID[:6])
	if err != nil {
		t.Fatal(err)
	}
	ex, err := again.Execute(ctx, "print(6 * 7)", nil)
	if err != nil || ex.Text() != "42\n" || !ex.OK() {
		t.Fatalf("execute through the second client: %q, %v", ex.Text(), err)
	}
	again.Close()
	if err := sb.Down(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := client.Manager().Store().List()
	if err != nil || len(recs) != 0 {
		t.Fatalf("sessions left after Down: %v %v", recs, err)
	}
}

// TestReadmeShowsTheExample: the README's Go snippet is Example, verbatim.
func TestReadmeShowsTheExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	example := string(src[strings.Index(string(src), "func Example() {"):])
	if !strings.Contains(string(readme), "```go\n"+strings.TrimRight(example, "\n")+"\n```") {
		t.Error("README.md's Go library snippet is not example_test.go's Example: copy it over")
	}
}
