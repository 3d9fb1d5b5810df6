// Command panicky is a provider plugin whose Create panics, killing the
// process mid-call.
package main

import (
	"context"
	"log/slog"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/internal/fakeprovider"
)

func main() {
	plugin.Serve(func(*slog.Logger) (core.Provider, error) {
		p := fakeprovider.Scripted()
		p.CreateFunc = func(context.Context, *core.CreateRequest) (*core.CreateResponse, error) {
			panic("fake provider: boom")
		}
		return p, nil
	})
}
