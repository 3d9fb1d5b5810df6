package sena_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sena-labs/sena"
)

// The seed's complete example in Go: a sandbox with a model and a library,
// a notebook session, its URL for the researcher, and a first cell.
func Example() {
	ctx := context.Background()
	client, err := sena.New(sena.Params{}) // the CLI's state dir, providers, skills and Hub client
	if err != nil {
		log.Fatal(err)
	}
	sb, err := client.Up(ctx, &sena.Config{
		// Provider: "modal", GPU: "A100", PythonPackages: []string{"torch", "transformers", "accelerate"},
		Models: []sena.Model{{Name: "sena-test/tiny-llama"}}, // google/gemma-2-9b-it, say; this one the tests serve
		Workspace: sena.Workspace{Libraries: []sena.Library{
			{Name: "steering_hook.py", Code: "def scale(xs, alpha):\n    return [alpha * x for x in xs]\n"},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Down(context.WithoutCancel(ctx)) // sandboxes cost money: stop it
	log.Printf("session %s: open %s", sb.ID, sb.JupyterURL())

	ex, err := sb.Execute(ctx, `import os
from steering_hook import scale
print(os.path.isdir(os.environ["MODEL_SENA_TEST_TINY_LLAMA_PATH"]))
print(scale([1, 2], 3))`, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(ex.Text())
	// Output:
	// True
	// [3, 6]
}
