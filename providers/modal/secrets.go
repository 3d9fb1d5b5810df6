package modal

import (
	"context"
	"maps"
	"slices"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// sandboxSecrets turns the sandbox's environment into Modal secrets, so that
// no value is stored in the sandbox definition or shown in Modal's dashboard:
//
//   - a secret name for which the Modal workspace has a named Secret uses
//     that Secret in place; the local value, if any, never leaves the host;
//   - every other variable (other secrets, plain env, extra) goes into one
//     ephemeral Secret made from a map, which Modal drops with the sandbox.
//
// A secret with neither a named Modal Secret nor a local value is an error.
func (p *Provider) sandboxSecrets(ctx context.Context, mc *modalsdk.Client, spec *core.SandboxSpec, extra map[string]string) ([]*modalsdk.Secret, error) {
	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	var out []*modalsdk.Secret
	for _, name := range slices.Sorted(slices.Values(spec.SecretNames)) {
		named, err := mc.Secrets.FromName(ctx, name, nil)
		switch {
		case err == nil:
			out = append(out, named)
			delete(env, name)
		case !isNotFound(err):
			return nil, modalError("look up secret "+name, err)
		case env[name] == "":
			return nil, core.Errorf(core.ErrInvalidConfig, "secret %s: not set in the environment and no Modal secret of that name; set it or run `modal secret create %s %s=...`", name, name, name)
		}
	}
	maps.Copy(env, extra)
	if len(env) > 0 {
		eph, err := mc.Secrets.FromMap(ctx, env, nil)
		if err != nil {
			return nil, modalError("send the sandbox environment", err)
		}
		out = append(out, eph)
	}
	return out, nil
}
