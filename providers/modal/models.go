package modal

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/sena-labs/sena/core"
)

// modelsRoot is where model volumes are mounted in the sandbox.
const modelsRoot = "/models"

// volumeNameMax keeps names under Modal's limit of 64 characters.
const volumeNameMax = 63

// VolumeName is the Modal Volume that holds one revision of a model:
// "sena-model-google-gemma-2-9b-it-main-1a2b3c4d". Modal names allow
// letters, digits, '-', '_' and '.'; everything else becomes '-', and the
// hash of the exact id and revision keeps two models that sanitize alike
// apart. The revision defaults to "main", as on the Hub.
func VolumeName(model core.ModelConfig) string {
	rev := revision(model)
	sum := sha256.Sum256([]byte(model.Name + "@" + rev))
	suffix := "-" + hex.EncodeToString(sum[:4])
	stem := "sena-model-" + sanitizeName(model.Name) + "-" + sanitizeName(rev)
	if len(stem) > volumeNameMax-len(suffix) {
		stem = stem[:volumeNameMax-len(suffix)]
	}
	return stem + suffix
}

// modelMount is one model as the sandbox sees it.
type modelMount struct {
	model  core.ModelConfig
	volume string // Modal Volume name
	path   string // mount point in the sandbox
	envVar string // MODEL_<NAME>_PATH
}

// planModels maps each model to its volume, mount point and variable (its
// EnvVar, as core sets it, else MODEL_<NAME>_PATH), and rejects two models
// that would claim the same variable or volume.
func planModels(models []core.ModelConfig) ([]modelMount, error) {
	var out []modelMount
	seen, volumes, names := map[string]string{}, map[string]string{}, map[string]int{}
	for _, m := range models {
		names[m.Name]++
	}
	for _, m := range models {
		if _, err := core.ParseModel(m.Name); err != nil {
			return nil, err
		}
		who := m.Name + "@" + revision(m)
		env := m.EnvVar
		if env == "" {
			env = core.ModelEnvVar(m.Name)
		}
		if prev, dup := seen[env]; dup {
			return nil, core.Errorf(core.ErrInvalidConfig, "models %s and %s both map to %s: give one an env_var, or list each model once", prev, who, env)
		}
		seen[env] = who
		vol := VolumeName(m)
		if prev, dup := volumes[vol]; dup {
			return nil, core.Errorf(core.ErrInvalidConfig, "models %s and %s are the same revision: list it once", prev, who)
		}
		volumes[vol] = who
		// The readable repo id is the mount point, /models/google--gemma-2-9b-it;
		// a model given at several revisions gets one per revision.
		org, repo, _ := strings.Cut(m.Name, "/")
		path := modelsRoot + "/" + sanitizeName(org) + "--" + sanitizeName(repo)
		if names[m.Name] > 1 {
			path += "--" + sanitizeName(revision(m))
		}
		out = append(out, modelMount{model: m, volume: vol, path: path, envVar: env})
	}
	return out, nil
}

func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}
