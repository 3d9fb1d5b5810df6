package modal

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/sena-labs/sena/core"
)

// errNoCredentials is what a user sees when neither the environment nor
// ~/.modal.toml holds a Modal token.
var errNoCredentials = core.Errorf(core.ErrUnavailable,
	"no Modal credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET or run `modal token new`")

// credentials is what the Modal client is made with.
type credentials struct {
	tokenID, tokenSecret string
	// environment is the Modal environment (MODAL_ENVIRONMENT, else the
	// profile's), "" for the workspace's default.
	environment string
	// profile names the ~/.modal.toml profile used, "" for none.
	profile string
}

// environmentSource says where the environment came from, for errors.
func (c credentials) environmentSource() string {
	switch {
	case os.Getenv("MODAL_ENVIRONMENT") != "":
		return "from MODAL_ENVIRONMENT"
	case c.profile != "":
		return "from profile " + c.profile + " of " + configPath()
	}
	return "the default"
}

// modalProfile is the part of a ~/.modal.toml profile Sena reads.
type modalProfile struct {
	TokenID     string `toml:"token_id"`
	TokenSecret string `toml:"token_secret"`
	Environment string `toml:"environment"`
	Active      bool   `toml:"active"`
}

// defaultProfile is the profile Modal's CLI uses when none is active.
const defaultProfile = "default"

// findCredentials resolves the token the way Modal's own CLI does:
// MODAL_TOKEN_ID and MODAL_TOKEN_SECRET win over the profile named by
// MODAL_PROFILE, else the one marked active, else [default], in
// MODAL_CONFIG_PATH or ~/.modal.toml. Unlike modal-go, which takes any one
// of several active profiles, several is an error naming them. A missing
// token is reported before any connection is made, in words that say how
// to fix it.
func findCredentials() (credentials, error) {
	name, profile, err := readProfile()
	if err != nil {
		return credentials{}, err
	}
	c := credentials{
		tokenID:     firstNonEmpty(os.Getenv("MODAL_TOKEN_ID"), profile.TokenID),
		tokenSecret: firstNonEmpty(os.Getenv("MODAL_TOKEN_SECRET"), profile.TokenSecret),
		environment: firstNonEmpty(os.Getenv("MODAL_ENVIRONMENT"), profile.Environment),
		profile:     name,
	}
	if c.tokenID == "" || c.tokenSecret == "" {
		return credentials{}, errNoCredentials
	}
	return c, nil
}

// configPath is the Modal config file modal-go and the CLI read.
func configPath() string {
	if p := os.Getenv("MODAL_CONFIG_PATH"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".modal.toml")
}

// readProfile reads the selected profile and its name; a missing file is
// no profile.
func readProfile() (string, modalProfile, error) {
	path := configPath()
	if path == "" {
		return "", modalProfile{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", modalProfile{}, nil
	}
	if err != nil {
		return "", modalProfile{}, core.Errorf(core.ErrUnavailable, "read Modal config %s: %v", path, err)
	}
	var profiles map[string]modalProfile
	if err := toml.Unmarshal(data, &profiles); err != nil {
		// The parser's message may quote the file, which holds secrets.
		return "", modalProfile{}, core.Errorf(core.ErrUnavailable, "Modal config %s is not valid TOML; fix it or run `modal token new`", path)
	}
	names := slices.Sorted(maps.Keys(profiles))
	if name := os.Getenv("MODAL_PROFILE"); name != "" {
		p, ok := profiles[name]
		if !ok {
			return "", modalProfile{}, core.Errorf(core.ErrInvalidConfig,
				"MODAL_PROFILE=%s, but %s has no such profile (it has %s)", name, path, listOrNone(names))
		}
		return name, p, nil
	}
	var active []string
	for _, n := range names {
		if profiles[n].Active {
			active = append(active, n)
		}
	}
	switch len(active) {
	case 0:
		if p, ok := profiles[defaultProfile]; ok {
			return defaultProfile, p, nil
		}
		return "", modalProfile{}, nil
	case 1:
		return active[0], profiles[active[0]], nil
	}
	return "", modalProfile{}, core.Errorf(core.ErrInvalidConfig,
		"%s marks several Modal profiles active (%s): run `modal profile activate NAME` to keep one, or set MODAL_PROFILE", path, strings.Join(active, ", "))
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
