package mcp

import (
	"context"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// keepalive sends a progress notification every interval while a long call
// runs, when the client asked for progress (it sent a progress token):
// clients that reset their timeout on progress then wait for long cells, and
// people watching see that something runs. Stop it with the returned func.
func keepalive(ctx context.Context, req *sdk.CallToolRequest, every time.Duration, message func(elapsed time.Duration) string) func() {
	token := req.Params.GetProgressToken()
	if token == nil || req.Session == nil || every <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				elapsed := time.Since(start)
				_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
					ProgressToken: token, Progress: elapsed.Seconds(), Message: message(elapsed),
				})
			}
		}
	}()
	return func() { cancel(); <-done }
}
