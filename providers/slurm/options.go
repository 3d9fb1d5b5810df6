package slurm

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/sena-labs/sena/core"
)

// options are the provider's own settings (provider_options in sena.yaml,
// --provider-option KEY=VALUE).
type options struct {
	Partition  string   `json:"partition,omitempty"`
	Account    string   `json:"account,omitempty"`
	QOS        string   `json:"qos,omitempty"`
	Constraint string   `json:"constraint,omitempty"`
	SbatchArgs []string `json:"sbatch_args,omitempty"`
	GPUType    string   `json:"gpu_type,omitempty"`
	Python     string   `json:"python,omitempty"`
	Setup      string   `json:"setup,omitempty"`
	SharedDir  string   `json:"shared_dir,omitempty"`
	CacheDir   string   `json:"cache_dir,omitempty"`
	NodeAddr   string   `json:"node_address,omitempty"`
	LoginHost  string   `json:"login_host,omitempty"`
	KnownHosts string   `json:"known_hosts,omitempty"`
}

const optionsSchema = `{
  "type": "object",
  "properties": {
    "partition": {"type": "string", "description": "SLURM partition (sbatch --partition); default: the cluster's default partition"},
    "account": {"type": "string", "description": "account to charge (sbatch --account)"},
    "qos": {"type": "string", "description": "quality of service (sbatch --qos)"},
    "constraint": {"type": "string", "description": "node features the job needs (sbatch --constraint)"},
    "sbatch_args": {"type": "array", "items": {"type": "string"}, "description": "more sbatch options, as [\"--reservation=r1\", \"--exclusive\"]; not those Sena sets (job name, comment, output, working directory, nodes, export)"},
    "gpu_type": {"type": "string", "description": "the cluster's GRES type for --gpu (as gres.conf names it, e.g. a100_80g), when Sena's kind does not match it; any: GPUs of any type"},
    "python": {"type": "string", "description": "Python on the nodes that has jupyter_server and ipykernel (default python3)"},
    "setup": {"type": "string", "description": "shell lines the job runs before Jupyter, as \"module load cuda; source ~/venv/bin/activate\""},
    "shared_dir": {"type": "string", "description": "a directory this host and the nodes share, for each job's files (default ~/.sena/slurm)"},
    "cache_dir": {"type": "string", "description": "the shared Hugging Face cache (HF_HOME) models are downloaded into once (default SHARED_DIR/huggingface)"},
    "node_address": {"type": "string", "description": "how this host, or the login host, reaches a node: {node} is SLURM's node name, {addr} its NodeAddr (default {addr})"},
    "login_host": {"type": "string", "description": "[user@]host[:port] to tunnel through over SSH when the nodes are not reachable from here; needs SSH_AUTH_SOCK (pass_env)"},
    "known_hosts": {"type": "string", "description": "known_hosts file that vouches for the login host (default ~/.ssh/known_hosts)"}
  }
}`

// reservedSbatch are options Sena sets itself or that would break how it
// finds and reaches the job; sbatch_args may not name them.
var reservedSbatch = []string{
	"-J", "--job-name", "--comment", "-o", "--output", "-e", "--error", "-D", "--chdir",
	"--wrap", "--export", "--export-file", "-a", "--array", "-N", "--nodes", "--parsable",
	"--requeue", "--no-requeue", "-H", "--hold", "--test-only", "-W", "--wait",
}

// decodeOptions reads the spec's options and fills in the defaults.
func decodeOptions(raw []byte) (*options, error) {
	o := &options{}
	if err := core.DecodeOptions(raw, o); err != nil {
		return nil, err
	}
	for _, a := range o.SbatchArgs {
		name, _, _ := strings.Cut(a, "=")
		for _, r := range reservedSbatch {
			short := len(r) == 2 && !strings.HasPrefix(a, "--") && strings.HasPrefix(a, r) // -Jname
			if name == r || short {
				return nil, core.Errorf(core.ErrInvalidConfig, "slurm: sbatch_args may not set %s: Sena sets it to find and reach the job; use the provider's own options", r)
			}
		}
		if !strings.HasPrefix(a, "-") {
			return nil, core.Errorf(core.ErrInvalidConfig, "slurm: sbatch_args entry %q is not an option: write each as --name=value", a)
		}
	}
	if o.Python == "" {
		o.Python = "python3"
	}
	home, _ := os.UserHomeDir()
	if o.SharedDir == "" {
		o.SharedDir = filepath.Join(home, ".sena", "slurm")
	}
	o.SharedDir = expandHome(o.SharedDir, home)
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(o.SharedDir, "huggingface")
	}
	o.CacheDir = expandHome(o.CacheDir, home)
	if !filepath.IsAbs(o.SharedDir) || !filepath.IsAbs(o.CacheDir) {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: shared_dir and cache_dir must be absolute paths (the nodes see them too), got %q and %q", o.SharedDir, o.CacheDir)
	}
	if o.NodeAddr == "" {
		o.NodeAddr = "{addr}"
	}
	if !strings.Contains(o.NodeAddr, "{node}") && !strings.Contains(o.NodeAddr, "{addr}") {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: node_address %q names no node: use {node} (SLURM's node name) or {addr} (its NodeAddr), as {node}.cluster.example.org", o.NodeAddr)
	}
	if o.KnownHosts == "" {
		o.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	o.KnownHosts = expandHome(o.KnownHosts, home)
	return o, nil
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
