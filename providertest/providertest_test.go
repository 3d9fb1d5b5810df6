package providertest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/examples/miniprovider"
	"github.com/sena-labs/sena/providertest"
)

// declaring wraps the example provider with other declared fields: a lazy
// provider declares nothing (and refuses all but env), a liar declares
// python_packages, accepts them and silently installs nothing.
type declaring struct {
	core.Provider
	fields  []core.Field
	creates int // calls of Create
}

func (d *declaring) Info(ctx context.Context) (*core.ProviderInfo, error) {
	info, err := d.Provider.Info(ctx)
	if err == nil {
		info.Capabilities.Fields = d.fields
	}
	return info, err
}

func (d *declaring) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	d.creates++
	if err := (core.Capabilities{Fields: d.fields}).CheckSpec("declaring", &req.Spec); err != nil {
		return nil, err
	}
	lie := *req
	lie.Spec.PythonPackages = nil // accepted, never installed
	return d.Provider.Create(ctx, &lie)
}

func newDeclaring(t *testing.T, fields ...core.Field) *declaring {
	p, err := miniprovider.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &declaring{Provider: p, fields: fields}
}

func options(t *testing.T, fields ...core.Field) providertest.Options {
	python := jupytertest.Interpreters(t)[0].Path
	return providertest.Options{
		New: func(t *testing.T) core.Provider { return newDeclaring(t, fields...) },
		Config: func(*testing.T) core.SandboxConfig {
			return core.SandboxConfig{ProviderOptions: map[string]any{"python": python}}
		},
	}
}

// A provider that declares nothing passes: the suite only checks that
// everything is refused for it.
func TestLazyProviderPasses(t *testing.T) {
	providertest.Run(t, options(t))
}

// `up --package x` against the lazy provider fails before Create, with the
// setting and the provider named, and leaves no record.
func TestLazyProviderRefusesPackagesBeforeCreate(t *testing.T) {
	p := newDeclaring(t)
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: providertest.NewProviders(map[string]core.Provider{"lazy": p})})
	_, err = m.Up(context.Background(), &core.SandboxConfig{Provider: "lazy", PythonPackages: []string{"x"}})
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "--package") || !strings.Contains(err.Error(), "lazy") {
		t.Fatalf("up --package on a provider that declares nothing: %v", err)
	}
	if p.creates != 0 {
		t.Fatalf("Create was called %d times", p.creates)
	}
	if recs, _ := store.List(); len(recs) != 0 {
		t.Fatalf("records left: %v", recs)
	}
}

// A provider that declares python_packages but installs nothing fails the
// suite, on that field. The suite runs in a child test process, since a
// failing suite fails the test that runs it.
func TestLiarFailsTheSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLiarHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "SENA_PROVIDERTEST_LIAR=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the suite passed a provider that lies about python_packages (err %v):\n%s", err, out)
	}
	for _, want := range []string{
		"--- FAIL: TestLiarHelper/InProcess/Honoured/python_packages",
		"python_packages is declared but not honoured",
		"--- PASS: TestLiarHelper/InProcess/Honoured/files",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}

func TestLiarHelper(t *testing.T) {
	if os.Getenv("SENA_PROVIDERTEST_LIAR") == "" {
		t.Skip("run by TestLiarFailsTheSuite")
	}
	providertest.Run(t, options(t, core.FieldFiles, core.FieldPythonPackages))
}
