// Package modal runs Sena sandboxes on Modal (https://modal.com) through
// modal-go: a GPU container built from images.JupyterCUDA's steps, Jupyter
// behind an encrypted tunnel, model weights in Modal Volumes and secrets as
// Modal Secrets.
//
// Credentials are read as Modal's own tools read them: MODAL_TOKEN_ID and
// MODAL_TOKEN_SECRET, else the active profile of ~/.modal.toml (or
// MODAL_CONFIG_PATH, MODAL_PROFILE). MODAL_SERVER_URL points the client at
// another server, which is how the tests reach their protocol fake.
//
// The provider keeps no sandbox state: sandboxes are tagged with the
// request's labels and found again by id (Handle.ID) or by tags (List).
package modal

import (
	"context"
	"log/slog"
	"sync"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

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

	mu     sync.Mutex
	client *modalsdk.Client
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
	return &Provider{logger: logger, dockerfile: dockerfile}
}

// Info describes the provider; no network.
func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{
		Name:         Name,
		Version:      version,
		Description:  "Modal cloud sandboxes with GPUs (T4 to B200), Jupyter over an encrypted tunnel",
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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
	return nil
}

// modal returns the Modal client, making it on first use: credentials are
// checked first, then modal-go fetches its auth token from the server.
func (p *Provider) modal(ctx context.Context) (*modalsdk.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
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
	c, err := modalsdk.NewClientWithOptions(&modalsdk.ClientParams{
		TokenID:     creds.tokenID,
		TokenSecret: creds.tokenSecret,
		Logger:      p.logger,
	})
	if err != nil {
		return nil, modalError("connect", err)
	}
	p.client = c
	return c, nil
}
