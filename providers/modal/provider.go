// Package modal runs Sena sandboxes on Modal (https://modal.com) through
// modal-go: a GPU container built from images.JupyterCUDA's steps, Jupyter
// behind an encrypted tunnel, model weights in Modal Volumes and secrets as
// Modal Secrets.
//
// Credentials are read as Modal's own CLI reads them: MODAL_TOKEN_ID and
// MODAL_TOKEN_SECRET, else the profile MODAL_PROFILE names, the active one
// or [default] of ~/.modal.toml (or MODAL_CONFIG_PATH); MODAL_ENVIRONMENT
// picks the environment. MODAL_SERVER_URL points the client at another
// server, which is how the tests reach their protocol fake.
//
// The provider keeps no sandbox state: sandboxes are tagged with the
// request's labels and found again by id (Handle.ID) or by tags (List).
package modal

import (
	"context"
	"log/slog"
	"sync/atomic"

	modalsdk "github.com/modal-labs/libmodal/modal-go"
	"google.golang.org/grpc"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/images"
)

// Name is the provider's registry name.
const Name = "modal"

// appName is the Modal App every Sena sandbox belongs to.
const appName = "sena"

// version is this provider's version, reported by Info.
const version = "0.1.0"

// Provider is the Modal provider. The Modal client is made on first use, so
// that New and Info work without credentials or network.
type Provider struct {
	logger     *slog.Logger
	dockerfile string // the image recipe (images.JupyterCUDA)
	// interceptors are added to the client's (the recorded-traffic tests).
	unary  []grpc.UnaryClientInterceptor
	stream []grpc.StreamClientInterceptor
	// ready waits for Jupyter behind the tunnel (waitForJupyter; a replay
	// of recorded gRPC traffic has no Jupyter to ask).
	ready func(ctx context.Context, sb *modalsdk.Sandbox, url, token string) error

	// sem guards client; a channel, so that waiting for it honours ctx.
	sem    chan struct{}
	client *modalsdk.Client
	creds  credentials // those client was made with
	// setup is the context of the caller making the client: the first
	// auth request, which modal-go sends without one, is cancelled with it.
	setup atomic.Pointer[context.Context]
}

var _ core.Provider = (*Provider)(nil)

// New returns the Modal provider. It makes no network call.
func New(logger *slog.Logger) (core.Provider, error) {
	return newProvider(logger, images.JupyterCUDA), nil
}

func newProvider(logger *slog.Logger, dockerfile string) *Provider {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{logger: logger, dockerfile: dockerfile, sem: make(chan struct{}, 1), ready: waitForJupyter}
}

// Info describes the provider; no network.
func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{
		Name:         Name,
		Version:      version,
		Description:  "Modal cloud sandboxes with GPUs (T4 to B200), Jupyter over an encrypted tunnel; " + gpuNote,
		Capabilities: capabilities,
	}, nil
}

// capabilities are what Create honours. --image replaces the recipe's
// base; its steps still run on top.
var capabilities = core.Capabilities{
	Fields: []core.Field{
		core.FieldPythonPackages, core.FieldSystemPackages, core.FieldCPUs, core.FieldMemory,
		core.FieldTimeout, core.FieldIdleTimeout, core.FieldImage, core.FieldFiles, core.FieldModels,
	},
	GPUKinds:    gpuKinds,
	MaxGPUs:     maxGPUs,
	SecretStore: true,
}

// Close stops the Modal client's token refresher and closes its
// connections. The provider may be used again afterwards.
func (p *Provider) Close() error {
	p.sem <- struct{}{}
	defer func() { <-p.sem }()
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
	return nil
}

const authMethod = "/modal.client.ModalClient/AuthTokenGet"

// modal returns the Modal client, making it on first use: credentials are
// checked first, then modal-go fetches its auth token from the server.
// Waiting for another caller's setup, and the setup itself, end with ctx.
func (p *Provider) modal(ctx context.Context) (*modalsdk.Client, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.sem }()
	if p.client != nil {
		return p.client, nil
	}
	creds, err := findCredentials()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.setup.Store(&ctx)
	defer p.setup.Store(nil)
	c, err := modalsdk.NewClientWithOptions(&modalsdk.ClientParams{
		TokenID:                creds.tokenID,
		TokenSecret:            creds.tokenSecret,
		Environment:            creds.environment,
		Logger:                 p.logger,
		GRPCUnaryInterceptors:  append([]grpc.UnaryClientInterceptor{p.setupInterceptor}, p.unary...),
		GRPCStreamInterceptors: append([]grpc.StreamClientInterceptor{buildLogInterceptor}, p.stream...),
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, modalError("connect", err)
	}
	p.client, p.creds = c, creds
	return c, nil
}

// setupInterceptor ties the auth request made while the client is set up
// to the context of the caller setting it up.
func (p *Provider) setupInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if setup := p.setup.Load(); setup != nil && method == authMethod {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(*setup, cancel)()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
