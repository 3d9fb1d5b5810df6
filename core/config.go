package core

// This file is the one description of a sandbox's configuration. The YAML
// keys of `sena up -f`, the flags of `sena up`, the input schema of MCP's
// start_session and docs/configuration.md are all derived from these types,
// their tags and their field comments (see describe.go), so they cannot
// drift apart. A field's comment is its user-facing documentation: write it
// for users. Tags: yaml and json name the key (the same word in both), flag
// names the `sena up` flag ("-" for none), env an environment variable the
// flag also reads.

// SandboxConfig is everything needed to bring a sandbox up.
type SandboxConfig struct {
	// Provider runs the sandbox: local (default), docker, modal, or the name of a plugin sena-provider-NAME. The global --provider (env SENA_PROVIDER) sets it too.
	Provider string `yaml:"provider,omitempty" json:"provider,omitempty" flag:"provider"`
	// ProviderOptions are settings of the provider's own, checked against the JSON Schema it declares (`sena providers --json` shows it) before anything is created. On the command line each is KEY=VALUE; VALUE is read as the schema's type.
	ProviderOptions map[string]any `yaml:"provider_options,omitempty" json:"provider_options,omitempty" flag:"provider-option"`
	// Mode is notebook (default: code runs in a Jupyter kernel and every cell lands in the notebook) or cli (`sena exec` runs shell commands, recorded as %%sh cells; the exit status is the command's).
	Mode Mode `yaml:"mode,omitempty" json:"mode,omitempty" flag:"mode"`
	// GPU is the GPU kind and count: T4, A100, H100, H100:4; empty for CPU only. Checked against the provider's GPU kinds before anything starts.
	GPU string `yaml:"gpu,omitempty" json:"gpu,omitempty" flag:"gpu"`
	// Models are Hugging Face models, downloaded once into the cache; each one's snapshot path is in MODEL_<NAME>_PATH. On the command line ORG/NAME[@REVISION], repeatable.
	Models []ModelConfig `yaml:"models,omitempty" json:"models,omitempty" flag:"model"`
	// Preload loads every model and its tokenizer into the kernel before the session is handed over (as model and tokenizer, then model_2, tokenizer_2, ...).
	Preload bool `yaml:"preload,omitempty" json:"preload,omitempty" flag:"preload"`
	// HideModels keeps the models' names out of the notebook, the results and the sandbox's environment (implies preload).
	HideModels bool `yaml:"hide_models,omitempty" json:"hide_models,omitempty" flag:"hide-models"`
	// Dtype is the torch dtype preloaded models get: bfloat16, float16, float32 or auto (default).
	Dtype string `yaml:"dtype,omitempty" json:"dtype,omitempty" flag:"dtype"`
	// DeviceMap is the device_map preloaded models get: auto (default with a GPU), cuda, cpu.
	DeviceMap string `yaml:"device_map,omitempty" json:"device_map,omitempty" flag:"device-map"`
	// PythonPackages are pip requirements installed into the sandbox's environment, such as transformers==4.46.0. Repeatable.
	PythonPackages []string `yaml:"python_packages,omitempty" json:"python_packages,omitempty" flag:"package"`
	// SystemPackages are Debian packages installed into the sandbox's image. Repeatable.
	SystemPackages []string `yaml:"system_packages,omitempty" json:"system_packages,omitempty" flag:"system-package"`
	// Secrets are names of environment variables (such as HF_TOKEN) whose values are taken from the host's environment or ./.env and set in the sandbox only, never written anywhere. Repeatable.
	Secrets []string `yaml:"secrets,omitempty" json:"secrets,omitempty" flag:"secret"`
	// Env is set in the sandbox as given; it is kept in the session record, so it is not for secrets. On the command line KEY=VALUE, repeatable.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty" flag:"env"`
	// Timeout is the sandbox's whole lifetime, as 90m, 2h or seconds (default: the provider's). Enforced on the sandbox side, so it holds with no sena process running.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" flag:"timeout"`
	// IdleTimeout stops the sandbox after this long without kernel activity, as 30m.
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty" flag:"idle-timeout"`
	// Python is shorthand for the local provider's option provider_options.python: an interpreter with jupyter_server and ipykernel.
	Python string `yaml:"python,omitempty" json:"python,omitempty" flag:"python" env:"SENA_PYTHON"`
	// Image is the container image to run (it must run python3 -m jupyter_server; see images/Dockerfile.jupyter-cuda).
	Image string `yaml:"image,omitempty" json:"image,omitempty" flag:"image"`
	// CPUs is how many CPUs the sandbox may use.
	CPUs float64 `yaml:"cpus,omitempty" json:"cpus,omitempty" flag:"cpus"`
	// MemoryMiB is how much memory, in MiB, the sandbox may use.
	MemoryMiB int64 `yaml:"memory_mib,omitempty" json:"memory_mib,omitempty" flag:"memory"`
	// Repos are git repositories cloned on the host at a ref, copied into the sandbox's work dir (repos/NAME unless path says; plain files, without .git), put on sys.path, with their install command run in the session's environment; each one's commit is in the environment manifest. On the command line URL[@REF], repeatable.
	Repos []RepoConfig `yaml:"repos,omitempty" json:"repos,omitempty" flag:"repo"`
	// Mounts make host files and directories visible in the sandbox: on docker a bind mount, on local a symlink in the work dir (the host's own path is already visible), on providers that only take files (modal, slurm) a copy uploaded at start, at most 256 MiB in all. On the command line SRC[:DEST][:ro]; DEST defaults to mounts/NAME in the work dir, a relative DEST is relative to the work dir.
	Mounts []MountConfig `yaml:"mounts,omitempty" json:"mounts,omitempty" flag:"mount"`
	// Resume re-runs the code cells of this notebook (a .ipynb on the machine running sena), in order, once the kernel is ready, to rebuild its state: it stops at the first cell that raises and reports what ran. The cells and their new outputs land in the session's notebook.
	Resume string `yaml:"resume,omitempty" json:"resume,omitempty" flag:"resume"`
	// Continue starts the session's notebook as a copy of this one (a .ipynb on the machine running sena): its cells and outputs are kept, not re-run, and new cells are appended after them; the file itself is left as it is.
	Continue string `yaml:"continue,omitempty" json:"continue,omitempty" flag:"continue"`
	// FromSnapshot starts the sandbox from a snapshot that `sena snapshot` saved (`sena snapshots` lists them) on the same provider: the snapshotted session's work dir (its files, package environment, libraries, skills and repos) is unpacked before the kernel is set up, and its notebook is the new session's, kept, not re-run. Models and mounts are not in a snapshot: give them again.
	FromSnapshot string `yaml:"from_snapshot,omitempty" json:"from_snapshot,omitempty" flag:"from-snapshot"`
	// Scoped is an interface file (Python on the machine running sena) run in the kernel once the session is ready (after models and init code, in the kernel's namespace, not recorded in the notebook); its functions marked with @expose (from sena_scoped import expose), parameters annotated int, float, str, bool, list or dict, are all an agent may call: `sena mcp --scoped SESSION` serves each as a tool, with a schema from its signature and docstring, and nothing else (no execute_code, no files, no notebook).
	Scoped string `yaml:"scoped,omitempty" json:"scoped,omitempty" flag:"scoped"`
	// OutputLimitKiB is how much of each cell's output, in KiB, the notebook keeps (default 2048; -1 keeps everything). Past it a stream keeps its start and its end with a line saying what was left out, further outputs are summarised in one line, and all of it is written to sena-outputs/CELL_ID/ in the sandbox's work dir; the kernel's own output is never cut.
	OutputLimitKiB int64 `yaml:"output_limit_kib,omitempty" json:"output_limit_kib,omitempty" flag:"output-limit-kib"`
	// Workspace is what the researcher brings into the sandbox.
	Workspace Workspace `yaml:"workspace,omitempty" json:"workspace,omitempty" flag:"-"`
}

// RepoConfig is a git repository to bring into the sandbox. In YAML and
// JSON a plain string URL[@REF] is accepted too.
type RepoConfig struct {
	// URL is what git clones: https://..., ssh://..., file:///path, or a path on the machine running sena.
	URL string `yaml:"url" json:"url"`
	// Ref is a branch, tag or commit (default: the remote's default branch). A ref that does not exist is an error before anything is created.
	Ref string `yaml:"ref,omitempty" json:"ref,omitempty"`
	// Path is where the repository lands, relative to the sandbox's work dir (default repos/NAME, NAME from the URL); it goes on sys.path.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Install is a shell command run in the repository's directory in the sandbox before the session is handed over, such as pip install -e .: python and pip are the session's package environment (.sena/env, layered over the kernel's, as install_packages uses), so the kernel imports what it installs; if it fails, up fails.
	Install string `yaml:"install,omitempty" json:"install,omitempty"`
	// Secret names a secret (an environment variable on the machine running sena, or in ./.env) holding a token for a private HTTPS repository: git on the host sends it as an Authorization header (HTTP Basic, user x-access-token), passed to git through its environment; it is never written to disk, a command line or the sandbox.
	Secret string `yaml:"secret,omitempty" json:"secret,omitempty"`
}

// MountConfig makes a host path visible in the sandbox. In YAML and JSON a
// plain string SRC[:DEST][:ro] is accepted too.
type MountConfig struct {
	// Source is the file or directory on the machine running sena.
	Source string `yaml:"source" json:"source"`
	// Target is where it appears in the sandbox: relative to the work dir (default mounts/NAME), or an absolute path (container providers; on local only the source's own path).
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// ReadOnly makes it read-only in the sandbox (docker; where mounts are uploaded the sandbox gets a copy, whose changes never reach the host; the local provider cannot and refuses it).
	ReadOnly bool `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Workspace is what the researcher brings into the sandbox.
type Workspace struct {
	// Libraries are .py files and package directories, or inline {name: helpers.py, code: ...}, copied to lib/ and importable in the kernel. On the command line a path, repeatable.
	Libraries []Library `yaml:"libraries,omitempty" json:"libraries,omitempty" flag:"library"`
	// Skills are skill directories (with a SKILL.md whose front matter has name and description) or the names of skills shipped with Sena (`sena skills`), copied to skills/NAME/ and put on sys.path. Repeatable.
	Skills []string `yaml:"skills,omitempty" json:"skills,omitempty" flag:"skill"`
	// InitCode is Python run once in the kernel when the session starts, recorded as the notebook's first cell; if it raises, up fails and tears the sandbox down.
	InitCode string `yaml:"init_code,omitempty" json:"init_code,omitempty" flag:"init"`
}

// ModelConfig names a Hugging Face model. In YAML and JSON a plain string
// ORG/NAME[@REVISION] is accepted too.
type ModelConfig struct {
	// Name is the repo id, as in google/gemma-2-9b-it.
	Name string `yaml:"name" json:"name"`
	// Revision is a branch, tag or commit (default main).
	Revision string `yaml:"revision,omitempty" json:"revision,omitempty"`
	// EnvVar is the variable that holds the model's path in the sandbox: default MODEL_<NAME>_PATH (uppercase, every other character _); when one model is given at several revisions, those with a revision get MODEL_<NAME>_<REVISION>_PATH.
	EnvVar string `yaml:"env_var,omitempty" json:"env_var,omitempty"`
	// Preload loads this model (and its tokenizer) into the kernel before the session is handed over.
	Preload *Preload `yaml:"preload,omitempty" json:"preload,omitempty"`
	// Hidden keeps this model's identity out of the notebook: it is preloaded silently and its MODEL_<NAME>_PATH is not shown.
	Hidden bool `yaml:"hidden,omitempty" json:"hidden,omitempty"`
	// BaseModel is, for a PEFT adapter (a repo with adapter_config.json), the base model it applies to, as ORG/NAME[@REVISION] (default: base_model_name_or_path of adapter_config.json). The base is downloaded and cached too, its path is in its own MODEL_<NAME>_PATH, and preloading loads the base with the adapter applied, as a peft PeftModel.
	BaseModel string `yaml:"base_model,omitempty" json:"base_model,omitempty"`
	// CacheDir is the Hugging Face cache this model is downloaded into and read from (default HF_HUB_CACHE, else ~/.cache/huggingface/hub), such as a larger disk.
	CacheDir string `yaml:"cache_dir,omitempty" json:"cache_dir,omitempty"`
}

// Preload says how a model is loaded into the kernel.
type Preload struct {
	// Var names the kernel variable that holds the model (default model, then model_2, ...).
	Var string `yaml:"var,omitempty" json:"var,omitempty"`
	// TokenizerVar names the kernel variable that holds the tokenizer (default tokenizer, then tokenizer_2, ...).
	TokenizerVar string `yaml:"tokenizer_var,omitempty" json:"tokenizer_var,omitempty"`
	// Dtype is a torch dtype name: bfloat16, float16, float32, or auto (default).
	Dtype string `yaml:"dtype,omitempty" json:"dtype,omitempty"`
	// DeviceMap is passed to from_pretrained: auto (default with a GPU), cuda, cpu.
	DeviceMap string `yaml:"device_map,omitempty" json:"device_map,omitempty"`
}

// Library is a .py file, a package directory, or inline code. In YAML and
// JSON a plain string is a path.
type Library struct {
	// Path is a .py file or a package directory on the machine running sena.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Name is the module file name for inline code, such as helpers.py.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Code is the inline Python source of the module.
	Code string `yaml:"code,omitempty" json:"code,omitempty"`
}
