package providertest

import (
	"context"
	"sync"

	"github.com/sena-labs/sena/core"
)

// Faulty wraps a provider for tests of code that drives providers (the
// session manager, a CLI, an MCP server): it records the calls made and
// fails the ones a test chooses, the provider doing the rest for real.
type Faulty struct {
	core.Provider

	mu        sync.Mutex
	calls     []string
	fail      map[string]error
	failAfter map[string]error
}

// NewFaulty wraps p.
func NewFaulty(p core.Provider) *Faulty {
	return &Faulty{Provider: p, fail: map[string]error{}, failAfter: map[string]error{}}
}

// FailOn makes every later call of method ("Create", "Destroy", ...) fail
// with err; a nil err makes it work again.
func (f *Faulty) FailOn(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

// FailAfter makes every later call of method do its work and then fail
// with err, as when a response is lost or a plugin dies after the backend
// acted: the case cleanup code must find what was made by its labels.
func (f *Faulty) FailAfter(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAfter[method] = err
}

// Calls lists the methods called so far, in order.
func (f *Faulty) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Count is how many times method was called.
func (f *Faulty) Count(method string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == method {
			n++
		}
	}
	return n
}

func (f *Faulty) enter(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	return f.fail[method]
}

func (f *Faulty) Info(ctx context.Context) (*core.ProviderInfo, error) {
	if err := f.enter("Info"); err != nil {
		return nil, err
	}
	return f.Provider.Info(ctx)
}

func (f *Faulty) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	if err := f.enter("Create"); err != nil {
		return nil, err
	}
	resp, err := f.Provider.Create(ctx, req)
	if after := f.after("Create"); after != nil && err == nil {
		return nil, after
	}
	return resp, err
}

func (f *Faulty) after(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failAfter[method]
}

func (f *Faulty) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	if err := f.enter("Inspect"); err != nil {
		return nil, err
	}
	return f.Provider.Inspect(ctx, req)
}

func (f *Faulty) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	if err := f.enter("Destroy"); err != nil {
		return err
	}
	return f.Provider.Destroy(ctx, req)
}

func (f *Faulty) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	if err := f.enter("List"); err != nil {
		return nil, err
	}
	return f.Provider.List(ctx, req)
}

// Providers serves providers by name to a session manager (session.Params'
// Providers), recording the pass_env each Open was given.
type Providers struct {
	mu      sync.Mutex
	byName  map[string]core.Provider
	PassEnv map[string][]string // the last Open's pass_env, by name
}

// NewProviders serves the given providers.
func NewProviders(byName map[string]core.Provider) *Providers {
	return &Providers{byName: byName, PassEnv: map[string][]string{}}
}

func (p *Providers) Open(_ context.Context, name string, passEnv []string) (core.Provider, func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prov, ok := p.byName[name]
	if !ok {
		return nil, nil, core.Errorf(core.ErrInvalidConfig, "unknown provider %q", name)
	}
	p.PassEnv[name] = passEnv
	return prov, func() {}, nil
}

func (p *Providers) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.byName {
		out = append(out, n)
	}
	return out
}
