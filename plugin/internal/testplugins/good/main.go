// Command good is a working provider plugin for the plugin package's tests:
// it serves fakeprovider.Scripted, and logs once at startup and per Create.
package main

import (
	"context"
	"log/slog"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/internal/fakeprovider"
)

func main() {
	plugin.Serve(func(logger *slog.Logger) (core.Provider, error) {
		p := fakeprovider.Scripted()
		create := p.CreateFunc
		p.CreateFunc = func(ctx context.Context, r *core.CreateRequest) (*core.CreateResponse, error) {
			logger.Warn("fake create", "session", r.SessionID)
			return create(ctx, r)
		}
		return p, nil
	})
}
