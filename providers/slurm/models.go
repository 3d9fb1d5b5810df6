package slurm

import (
	"context"
	"os"
	"path/filepath"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub"
)

// fetchModels downloads each model once into the shared Hugging Face cache
// (cache_dir, the job's HF_HOME), from this host: login hosts reach the Hub
// where compute nodes often cannot. The job's environment points
// MODEL_<NAME>_PATH at each snapshot there; nothing is copied or mounted.
//
// The Hub and its token come from the plugin's environment (HF_ENDPOINT,
// HF_TOKEN, passed with pass_env) or, for the token, from the sandbox's
// own secrets (--secret HF_TOKEN), which gated models need in the job too.
func fetchModels(ctx context.Context, models []core.ModelConfig, cacheDir string, env map[string]string, say func(string, ...any)) error {
	if len(models) == 0 {
		return nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return core.Errorf(core.ErrInvalidConfig, "slurm: make the shared model cache %s (cache_dir): %v", cacheDir, err)
	}
	c := hub.NewClient(&hub.Options{CacheDir: filepath.Join(cacheDir, "hub"), Token: env["HF_TOKEN"]})
	for _, m := range models {
		say("fetching model %s into %s", m.Name, cacheDir)
		snap, err := c.Download(ctx, m.Name, m.Revision, nil)
		if err != nil {
			return err
		}
		env[core.ModelEnvVar(m.Name)] = snap.Path
	}
	env["HF_HOME"] = cacheDir
	return nil
}
