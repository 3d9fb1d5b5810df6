package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Mode is how a session is used.
type Mode string

// Execution modes.
const (
	// ModeNotebook: code runs in a Jupyter kernel and every cell lands in a notebook.
	ModeNotebook Mode = "notebook"
	// ModeCLI: `sena exec` runs shell commands in the sandbox.
	ModeCLI Mode = "cli"
)

// OptionPython is the local provider's option for its interpreter, which
// SandboxConfig.Python is shorthand for.
const OptionPython = "python"

// Duration is a time.Duration written as "90s", "2h" or a number of seconds.
type Duration time.Duration

// UnmarshalYAML reads "90s", "1h30m" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.UnmarshalText([]byte(n.Value)) }

// UnmarshalText reads "90s", "1h30m" or a number of seconds.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b) // a bare number
	}
	return d.UnmarshalText([]byte(s))
}

// Std is the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration as Go formats it.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as Go formats it.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// maxDuration bounds every configured duration: nothing Sena runs needs more
// than a year, and the bound keeps arithmetic on it from overflowing.
const maxDuration = 366 * 24 * time.Hour

// ParseDuration reads "90s", "1h30m", or a plain number of seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	bad := Errorf(ErrInvalidConfig, "duration %q: write it as 90s, 30m or 2h (at most a year, not negative)", s)
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.IsNaN(secs) || secs < 0 || secs > maxDuration.Seconds() {
			return 0, bad
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 || d > maxDuration {
		return 0, bad
	}
	return d, nil
}

// UnmarshalYAML accepts a plain path or the mapping form.
func (l *Library) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		l.Path = n.Value
		return nil
	}
	type plain Library
	return n.Decode((*plain)(l))
}

// UnmarshalJSON accepts a plain path or the object form.
func (l *Library) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		*l = Library{Path: s}
		return nil
	}
	type plain Library
	return strictJSON(b, (*plain)(l))
}

// UnmarshalText reads a path, as the --library flag gives it.
func (l *Library) UnmarshalText(b []byte) error {
	*l = Library{Path: string(b)}
	return nil
}

// UnmarshalYAML accepts ORG/NAME[@REVISION] or the mapping form.
func (m *ModelConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return m.UnmarshalText([]byte(n.Value))
	}
	type plain ModelConfig
	return n.Decode((*plain)(m))
}

// UnmarshalJSON accepts ORG/NAME[@REVISION] or the object form.
func (m *ModelConfig) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		return m.UnmarshalText([]byte(s))
	}
	type plain ModelConfig
	return strictJSON(b, (*plain)(m))
}

// UnmarshalText reads ORG/NAME[@REVISION], as the --model flag gives it.
func (m *ModelConfig) UnmarshalText(b []byte) error {
	v, err := ParseModel(string(b))
	*m = v
	return err
}

// UnmarshalYAML accepts URL[@REF] or the mapping form.
func (r *RepoConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return r.UnmarshalText([]byte(n.Value))
	}
	type plain RepoConfig
	return n.Decode((*plain)(r))
}

// UnmarshalJSON accepts URL[@REF] or the object form.
func (r *RepoConfig) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		return r.UnmarshalText([]byte(s))
	}
	type plain RepoConfig
	return strictJSON(b, (*plain)(r))
}

// UnmarshalText reads URL[@REF], as the --repo flag gives it: the ref is
// what follows the last @ after the URL's last /, so user@host URLs keep
// their user.
func (r *RepoConfig) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	*r = RepoConfig{URL: s}
	slash := strings.LastIndexAny(s, "/:")
	if at := strings.LastIndex(s, "@"); at > slash && at > 0 {
		r.URL, r.Ref = s[:at], s[at+1:]
	}
	return nil
}

// UnmarshalYAML accepts SRC[:DEST][:ro] or the mapping form.
func (m *MountConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return m.UnmarshalText([]byte(n.Value))
	}
	type plain MountConfig
	return n.Decode((*plain)(m))
}

// UnmarshalJSON accepts SRC[:DEST][:ro] or the object form.
func (m *MountConfig) UnmarshalJSON(b []byte) error {
	if s, ok := jsonString(b); ok {
		return m.UnmarshalText([]byte(s))
	}
	type plain MountConfig
	return strictJSON(b, (*plain)(m))
}

// UnmarshalText reads SRC[:DEST][:ro|:rw], as the --mount flag gives it.
func (m *MountConfig) UnmarshalText(b []byte) error {
	parts := strings.Split(strings.TrimSpace(string(b)), ":")
	*m = MountConfig{}
	if n := len(parts); n > 1 && (parts[n-1] == "ro" || parts[n-1] == "rw") {
		m.ReadOnly = parts[n-1] == "ro"
		parts = parts[:n-1]
	}
	switch len(parts) {
	case 1:
		m.Source = parts[0]
	case 2:
		m.Source, m.Target = parts[0], parts[1]
	default:
		return Errorf(ErrInvalidConfig, "mount %q: write it as SRC[:DEST][:ro] (a path with a colon needs the YAML form {source, target})", string(b))
	}
	return nil
}

func jsonString(b []byte) (string, bool) {
	var s string
	if len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return "", false
	}
	return s, true
}

// strictJSON decodes one JSON value, refusing unknown keys.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// LoadConfig reads a YAML config file. Unknown keys are errors, so a typo
// does not silently drop a setting; so are an empty file and a second
// document after "---".
func LoadConfig(path string) (*SandboxConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errorf(ErrInvalidConfig, "read config: %v", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig reads a YAML config; name says where it came from in errors.
func ParseConfig(name string, data []byte) (*SandboxConfig, error) {
	var cfg SandboxConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errorf(ErrInvalidConfig, "config %s is empty: write at least one key (see docs/configuration.md)", name)
		}
		return nil, Errorf(ErrInvalidConfig, "config %s: %v (see docs/configuration.md for the keys)", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errorf(ErrInvalidConfig, "config %s holds more than one YAML document (a second one after ---): keep one", name)
	}
	return &cfg, nil
}

var (
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	pyIdent  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	revision = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)
)

// Validate checks the config without touching any backend.
func (c *SandboxConfig) Validate() error {
	switch c.Mode {
	case "", ModeNotebook, ModeCLI:
	default:
		return Errorf(ErrInvalidConfig, "mode %q: use notebook or cli", c.Mode)
	}
	if _, err := ParseGPU(c.GPU); err != nil {
		return err
	}
	for _, m := range c.Models {
		if _, err := ParseModel(m.Name + revSuffix(m.Revision)); err != nil {
			return err
		}
		if p := m.Preload; p != nil {
			for _, v := range []string{p.Var, p.TokenizerVar} {
				if v != "" && !pyIdent.MatchString(v) {
					return Errorf(ErrInvalidConfig, "model %s: preload variable %q is not a Python identifier", m.Name, v)
				}
			}
			if err := checkDtype(m.Name, p.Dtype); err != nil {
				return err
			}
		}
	}
	if err := checkDtype("", c.Dtype); err != nil {
		return err
	}
	for _, m := range c.Models {
		if m.BaseModel != "" {
			if _, err := ParseModel(m.BaseModel); err != nil {
				return Errorf(ErrInvalidConfig, "model %s: base_model: %v", m.Name, err)
			}
		}
	}
	if err := c.validateResearch(); err != nil {
		return err
	}
	for _, s := range c.Secrets {
		if !envName.MatchString(s) {
			return Errorf(ErrInvalidConfig, "secret %q: a secret is named by an environment variable name such as HF_TOKEN", s)
		}
	}
	for k := range c.Env {
		if !envName.MatchString(k) {
			return Errorf(ErrInvalidConfig, "env %q: not a valid environment variable name", k)
		}
		if k == "JUPYTER_TOKEN" || k == "JUPYTER_TOKEN_FILE" {
			return Errorf(ErrInvalidConfig, "env %s: Sena sets the Jupyter token itself; drop it", k)
		}
	}
	if math.IsNaN(c.CPUs) || math.IsInf(c.CPUs, 0) || c.CPUs < 0 {
		return Errorf(ErrInvalidConfig, "cpus %v: give a positive number, as 2 or 0.5", c.CPUs)
	}
	if c.Timeout < 0 || c.IdleTimeout < 0 || c.MemoryMiB < 0 {
		return Errorf(ErrInvalidConfig, "timeouts and memory must not be negative")
	}
	return nil
}

// validateResearch checks repos, mounts, resume and continue as far as they can be checked without the host's files
// (PlanSandbox checks those).
func (c *SandboxConfig) validateResearch() error {
	for _, r := range c.Repos {
		if strings.TrimSpace(r.URL) == "" {
			return Errorf(ErrInvalidConfig, "repo: give its url (https://..., file:///path, or a path)")
		}
		if strings.HasPrefix(r.URL, "-") || strings.ContainsAny(r.URL, "\n\r\x00") {
			return Errorf(ErrInvalidConfig, "repo %q: not a git URL", r.URL)
		}
		if r.Ref != "" && (!validRevision(r.Ref) || strings.HasPrefix(r.Ref, "-")) {
			return Errorf(ErrInvalidConfig, "repo %s: ref %q is not a branch, tag or commit name", r.URL, r.Ref)
		}
		if r.Path != "" && !localPath(r.Path) {
			return Errorf(ErrInvalidConfig, "repo %s: path %q must be relative to the work dir and stay inside it", r.URL, r.Path)
		}
		if r.Secret != "" && !envName.MatchString(r.Secret) {
			return Errorf(ErrInvalidConfig, "repo %s: secret %q is not an environment variable name such as GITHUB_TOKEN", r.URL, r.Secret)
		}
	}
	for _, m := range c.Mounts {
		if strings.TrimSpace(m.Source) == "" {
			return Errorf(ErrInvalidConfig, "mount: give its source, a host path")
		}
		if m.Target != "" && !strings.HasPrefix(m.Target, "/") && !localPath(m.Target) {
			return Errorf(ErrInvalidConfig, "mount %s: target %q would leave the work dir: give a path inside it, or an absolute one", m.Source, m.Target)
		}
	}
	if c.Resume != "" && c.Continue != "" {
		return Errorf(ErrInvalidConfig, "resume and continue both name a notebook: resume re-runs one, continue appends to one without running it; give one")
	}
	if (c.Resume != "" || c.Continue != "") && c.Mode == ModeCLI {
		return Errorf(ErrInvalidConfig, "resume and continue carry a notebook's Python cells: drop mode cli")
	}
	if c.FromSnapshot != "" && !SnapshotName(c.FromSnapshot) {
		return Errorf(ErrInvalidConfig, "from_snapshot %q: a snapshot name is letters, digits, '.', '_' and '-' (`sena snapshots` lists them)", c.FromSnapshot)
	}
	if c.FromSnapshot != "" && (c.Resume != "" || c.Continue != "") {
		return Errorf(ErrInvalidConfig, "from_snapshot brings its session's notebook: drop resume and continue")
	}
	if c.Scoped != "" && c.Mode == ModeCLI {
		return Errorf(ErrInvalidConfig, "a scoped sandbox runs its interface in a Python kernel: drop mode cli")
	}
	return nil
}

var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// SnapshotName reports whether s can name a snapshot: a file name on every
// system.
func SnapshotName(s string) bool { return snapshotName.MatchString(s) && !strings.Contains(s, "..") }

// localPath is a relative slash path that stays where it is joined.
func localPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

func checkDtype(model, dtype string) error {
	if dtype == "" || pyIdent.MatchString(dtype) {
		return nil
	}
	if model != "" {
		return Errorf(ErrInvalidConfig, "model %s: dtype %q: use bfloat16, float16, float32 or auto", model, dtype)
	}
	return Errorf(ErrInvalidConfig, "dtype %q: use bfloat16, float16, float32 or auto", dtype)
}

func revSuffix(rev string) string {
	if rev == "" {
		return ""
	}
	return "@" + rev
}

// FillAmbient applies ambient defaults (the environment, the global flags,
// an MCP server's flags) where neither the explicit settings nor the config
// file set anything: explicit settings win over the file, the file over the
// ambient defaults. python applies to the local provider only.
func (c *SandboxConfig) FillAmbient(provider, python string) {
	if c.Provider == "" {
		c.Provider = provider
	}
	if _, set := c.ProviderOptions[OptionPython]; python != "" && c.Python == "" && !set && (c.Provider == "" || c.Provider == "local") {
		c.Python = python
	}
}

// Normalize fills defaults and folds the shorthands into what they stand
// for: the provider and mode defaults, python into provider_options.python,
// and preload, hide_models, dtype and device_map into each model's entry.
// It is idempotent.
func (c *SandboxConfig) Normalize() error {
	if c.Provider == "" {
		c.Provider = "local"
	}
	if c.Mode == "" {
		c.Mode = ModeNotebook
	}
	if c.Python != "" {
		if v, ok := c.ProviderOptions[OptionPython]; ok && v != c.Python {
			return Errorf(ErrInvalidConfig, "python %q and provider_options.python %q disagree: give one", c.Python, v)
		}
		if c.ProviderOptions == nil {
			c.ProviderOptions = map[string]any{}
		}
		c.ProviderOptions[OptionPython] = c.Python
		c.Python = ""
	}
	preloading := c.Preload || c.HideModels
	for i := range c.Models {
		m := &c.Models[i]
		if c.HideModels {
			m.Hidden = true
		}
		if m.Preload == nil && (preloading || m.Hidden) {
			m.Preload = &Preload{}
		}
		if m.Preload != nil {
			preloading = true
			if m.Preload.Dtype == "" {
				m.Preload.Dtype = c.Dtype
			}
			if m.Preload.DeviceMap == "" {
				m.Preload.DeviceMap = c.DeviceMap
			}
		}
	}
	if (c.Dtype != "" || c.DeviceMap != "") && !preloading {
		return Errorf(ErrInvalidConfig, "dtype and device_map only apply to preloaded models: add preload (--preload)")
	}
	c.Preload, c.HideModels, c.Dtype, c.DeviceMap = false, false, "", ""
	return c.nameModelVars()
}

// nameModelVars gives each model the variable that holds its path: its
// env_var, else MODEL_<NAME>_PATH, or MODEL_<NAME>_<REVISION>_PATH for the
// entries with a revision of a model given more than once. Two models in
// one variable are an error.
func (c *SandboxConfig) nameModelVars() error {
	count := map[string]int{}
	for _, m := range c.Models {
		count[m.Name]++
	}
	owner := map[string]string{}
	for i := range c.Models {
		m := &c.Models[i]
		if m.EnvVar == "" {
			m.EnvVar = ModelEnvVar(m.Name)
			if count[m.Name] > 1 && m.Revision != "" {
				m.EnvVar = ModelEnvVar(m.Name + "_" + m.Revision)
			}
		}
		if !envName.MatchString(m.EnvVar) {
			return Errorf(ErrInvalidConfig, "model %s: env_var %q is not an environment variable name", m.Name, m.EnvVar)
		}
		who := m.Name + revSuffix(m.Revision)
		if prev, taken := owner[m.EnvVar]; taken {
			return Errorf(ErrInvalidConfig, "models %s and %s would both be in %s: give one an env_var, or drop the duplicate", prev, who, m.EnvVar)
		}
		owner[m.EnvVar] = who
	}
	return nil
}

// ParseModel reads "org/name" or "org/name@revision".
func ParseModel(s string) (ModelConfig, error) {
	name, rev, hasRev := strings.Cut(strings.TrimSpace(s), "@")
	org, repo, ok := strings.Cut(name, "/")
	if !ok || org == "" || repo == "" || strings.Contains(repo, "/") || strings.ContainsAny(name, " \\") || strings.Contains(name, "..") {
		return ModelConfig{}, Errorf(ErrInvalidConfig, "model %q: write it as ORG/NAME or ORG/NAME@REVISION, as in google/gemma-2-9b-it", s)
	}
	if hasRev && !validRevision(rev) {
		return ModelConfig{}, Errorf(ErrInvalidConfig, "model %q: revision %q is not a branch, tag or commit name (letters, digits, . _ - /, no ..)", s, rev)
	}
	return ModelConfig{Name: name, Revision: rev}, nil
}

// validRevision accepts what git and the Hub accept as a ref or commit, and
// nothing that could leave a cache directory when joined into a path.
func validRevision(rev string) bool {
	return revision.MatchString(rev) && !strings.Contains(rev, "..") && !strings.Contains(rev, "//") &&
		!strings.HasSuffix(rev, "/") && !strings.HasSuffix(rev, ".lock")
}

// ModelEnvVar is the variable that holds a model's path in the sandbox:
// google/gemma-2-9b-it -> MODEL_GOOGLE_GEMMA_2_9B_IT_PATH.
func ModelEnvVar(name string) string {
	var b strings.Builder
	b.WriteString("MODEL_")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_PATH")
	return b.String()
}

// Overlay applies o on top of c, as flags apply on top of a config file:
// set scalars override, lists append, maps merge (o's entries win).
func (c *SandboxConfig) Overlay(o *SandboxConfig) {
	overlay(reflect.ValueOf(c).Elem(), reflect.ValueOf(o).Elem())
}

func overlay(dst, src reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		d, s := dst.Field(i), src.Field(i)
		switch {
		case s.IsZero():
		case d.Kind() == reflect.Struct:
			overlay(d, s)
		case d.Kind() == reflect.Slice:
			d.Set(reflect.AppendSlice(d, s))
		case d.Kind() == reflect.Map:
			if d.IsNil() {
				d.Set(reflect.MakeMap(d.Type()))
			}
			for _, k := range s.MapKeys() {
				d.SetMapIndex(k, s.MapIndex(k))
			}
		default:
			d.Set(s)
		}
	}
}

// ParseKeyValues reads KEY=VALUE assignments; what names the flag in errors.
func ParseKeyValues(what string, kvs []string) (map[string]string, error) {
	var out map[string]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, Errorf(ErrInvalidConfig, "%s %q: write KEY=VALUE", what, kv)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}
