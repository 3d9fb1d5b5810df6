package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// Client is a core.Provider served by a plugin process. Launch starts one;
// Close stops the process. It is safe for concurrent use.
type Client struct {
	rpc        pb.ProviderClient
	name, path string
	done       context.Context // cancelled when the plugin process exits
	stderr     *stderrTail
	process    *goplugin.Client // nil when not launched by this package
}

var _ core.Provider = (*Client)(nil)

// Name is the plugin's name (sena-provider-NAME) as given to Launch.
func (c *Client) Name() string { return c.name }

// Close kills the plugin process. Calls in flight fail with core.ErrPluginFailed.
func (c *Client) Close() error {
	if c.process != nil {
		c.process.Kill()
	}
	return nil
}

// describe names the plugin in error messages.
func (c *Client) describe() string {
	name := c.name
	if name == "" {
		name = "(unnamed)"
	}
	if c.path == "" {
		return "provider plugin " + name
	}
	return fmt.Sprintf("provider plugin %s (%s)", name, c.path)
}

// Info implements core.Provider.
func (c *Client) Info(ctx context.Context) (*core.ProviderInfo, error) {
	resp, err := c.rpc.GetInfo(ctx, &pb.GetInfoRequest{})
	if err != nil {
		return nil, c.callError(ctx, "Info", err)
	}
	return infoFromProto(resp), nil
}

// Create implements core.Provider. req.Progress, if set, receives the
// provider's progress reports in order, on the calling goroutine.
func (c *Client) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	// The stream outlives no call: cancelling it tells the plugin to stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Create(ctx, createRequestToProto(req))
	if err != nil {
		return nil, c.callError(ctx, "Create", err)
	}
	var result *pb.CreateResponse
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, c.callError(ctx, "Create", err)
		}
		switch ev := ev.GetEvent().(type) {
		case *pb.CreateEvent_Progress:
			if req.Progress != nil {
				req.Progress(progressFromProto(ev.Progress))
			}
		case *pb.CreateEvent_Result:
			if result != nil {
				return nil, core.Errorf(core.ErrPluginFailed, "%s sent two Create results; it does not follow sena.provider.v1", c.describe())
			}
			result = ev.Result
		}
	}
	if result == nil {
		return nil, core.Errorf(core.ErrPluginFailed, "%s ended Create without a result; it does not follow sena.provider.v1", c.describe())
	}
	return &core.CreateResponse{Handle: handleFromProto(result.GetHandle()), Endpoint: endpointFromProto(result.GetEndpoint()), Image: result.GetImage()}, nil
}

// Inspect implements core.Provider.
func (c *Client) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	resp, err := c.rpc.Inspect(ctx, &pb.InspectRequest{Handle: handleToProto(req.Handle)})
	if err != nil {
		return nil, c.callError(ctx, "Inspect", err)
	}
	return &core.InspectResponse{Status: core.Status(resp.GetStatus()), Reason: resp.GetReason(), Endpoint: endpointFromProto(resp.GetEndpoint()), GPUs: resp.GetGpus()}, nil
}

// Destroy implements core.Provider.
func (c *Client) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	if _, err := c.rpc.Destroy(ctx, &pb.DestroyRequest{Handle: handleToProto(req.Handle)}); err != nil {
		return c.callError(ctx, "Destroy", err)
	}
	return nil
}

// List implements core.Provider.
func (c *Client) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	resp, err := c.rpc.List(ctx, &pb.ListRequest{Labels: req.Labels})
	if err != nil {
		return nil, c.callError(ctx, "List", err)
	}
	out := &core.ListResponse{}
	for _, sb := range resp.GetSandboxes() {
		out.Sandboxes = append(out.Sandboxes, sandboxFromProto(sb))
	}
	return out, nil
}
