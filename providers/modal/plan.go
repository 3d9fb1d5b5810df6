package modal

import (
	"regexp"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// Sandbox lifetimes. Modal's own default (5 minutes) is too short for an
// experiment, and its ceiling is 24 hours. The lifetime is a hard limit:
// Modal stops the sandbox then, sena running or not.
const (
	defaultTimeout = time.Hour
	maxTimeout     = 24 * time.Hour
)

// Modal's rules for names, tags and environment variables (its clients'
// name_utils and secret checks), applied here so that a bad request fails
// before anything is created.
var (
	objectName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	tagText    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
	envKey     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// plan is a CreateRequest checked and worked out before any call to Modal:
// bad input fails here, with nothing created and no network used.
type plan struct {
	gpu         string
	timeout     time.Duration
	idleTimeout time.Duration // Jupyter's, not Modal's
	base        string        // registry image the recipe starts from
	recipe      []string      // the recipe's commands after FROM
	packages    []string      // the config's apt and pip steps
	files       []byte        // the workspace files as the bootstrap's tar
	models      []modelMount
}

func newPlan(dockerfile string, req *core.CreateRequest) (*plan, error) {
	if req == nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "modal: no create request")
	}
	spec := &req.Spec
	if !objectName.MatchString(req.SessionID) || len(req.SessionID) > 63 {
		return nil, core.Errorf(core.ErrInvalidConfig, "modal: session id %q: want 1-63 letters, digits, '.', '_' or '-'", req.SessionID)
	}
	if req.JupyterToken == "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "modal: a Jupyter token is required: the server is reachable from the internet")
	}
	if len(spec.Mounts) > 0 {
		return nil, core.Errorf(core.ErrUnsupported, "modal: host directories cannot be mounted into a Modal sandbox (%s)", spec.Mounts[0].Source)
	}
	if spec.CPUs < 0 || spec.MemoryMiB < 0 || spec.Timeout < 0 || spec.IdleTimeout < 0 {
		return nil, core.Errorf(core.ErrInvalidConfig, "modal: cpus, memory and timeouts must not be negative")
	}
	if spec.Timeout > maxTimeout {
		return nil, core.Errorf(core.ErrInvalidConfig, "modal: timeout %s: Modal sandboxes live at most %s", spec.Timeout, maxTimeout)
	}
	for k, v := range req.Labels {
		if !tagText.MatchString(k) || !tagText.MatchString(v) {
			return nil, core.Errorf(core.ErrInvalidConfig, "modal: label %s=%s: Modal tags are 1-63 letters, digits, '.', '_' or '-'", k, v)
		}
	}
	for k := range spec.Env {
		if !envKey.MatchString(k) {
			return nil, core.Errorf(core.ErrInvalidConfig, "modal: environment variable %q: Modal takes letters, digits and '_', not starting with a digit", k)
		}
	}
	gpu, err := gpuString(spec.GPU)
	if err != nil {
		return nil, err
	}
	recipe, err := parseDockerfile(dockerfile)
	if err != nil {
		return nil, err
	}
	if spec.Image != "" {
		if strings.ContainsAny(spec.Image, " \t\n") {
			return nil, core.Errorf(core.ErrInvalidConfig, "modal: image %q: want one image reference", spec.Image)
		}
		// The recipe's base is a build argument for exactly this; its
		// steps skip what the image already has.
		recipe.base = spec.Image
	}
	packages, err := packageCommands(spec.SystemPackages, spec.PythonPackages)
	if err != nil {
		return nil, err
	}
	files, err := filesTar(spec.Files)
	if err != nil {
		return nil, err
	}
	models, err := planModels(spec.Models)
	if err != nil {
		return nil, err
	}
	idle := ceilSeconds(spec.IdleTimeout)
	// The command is made again once the models' commits are known; a
	// commit is 40 characters, so this checks its final size.
	var checks []modelCheck
	for _, m := range models {
		checks = append(checks, modelCheck{path: m.path, commit: strings.Repeat("0", 40)})
	}
	if _, err := jupyterCommand(idle, checks); err != nil {
		return nil, err
	}
	timeout := ceilSeconds(spec.Timeout)
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return &plan{
		gpu:         gpu,
		timeout:     timeout,
		idleTimeout: idle,
		base:        recipe.base,
		recipe:      recipe.commands,
		packages:    packages,
		files:       files,
		models:      models,
	}, nil
}

// ceilSeconds rounds up to whole seconds, the unit Modal takes.
func ceilSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
