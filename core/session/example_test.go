package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/hub"
	"github.com/sena-labs/sena/providers"
)

// What the seed's Python example does, in Go: a config, a sandbox, a
// notebook session, its id and Jupyter URL.
func Example() {
	ctx := context.Background()
	store, err := session.OpenStore(session.DefaultStateDir())
	if err != nil {
		log.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil), Models: hub.NewClient(nil)})
	rec, err := m.Up(ctx, &core.SandboxConfig{
		GPU:            "A100",
		Models:         []core.ModelConfig{{Name: "google/gemma-2-9b-it"}},
		PythonPackages: []string{"torch", "transformers", "accelerate"},
	})
	if err != nil {
		log.Fatal(err)
	}
	url, _ := m.JupyterURL(rec)
	fmt.Println(rec.ID, url)

	s, err := m.Attach(ctx, rec.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ex, err := s.Execute(ctx, "print('hello')", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ex.Result.Status)
}
