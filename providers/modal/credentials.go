package modal

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"

	"github.com/sena-labs/sena/core"
)

// errNoCredentials is what a user sees when neither the environment nor
// ~/.modal.toml holds a Modal token.
var errNoCredentials = core.Errorf(core.ErrUnavailable,
	"no Modal credentials: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET or run `modal token new`")

// credentials is a Modal token pair.
type credentials struct {
	tokenID, tokenSecret string
}

// modalProfile is the part of a ~/.modal.toml profile Sena reads.
type modalProfile struct {
	TokenID     string `toml:"token_id"`
	TokenSecret string `toml:"token_secret"`
	Active      bool   `toml:"active"`
}

// findCredentials resolves the token the way Modal's own tools do:
// MODAL_TOKEN_ID and MODAL_TOKEN_SECRET win over the profile named by
// MODAL_PROFILE (or the active one) in MODAL_CONFIG_PATH or ~/.modal.toml.
// It mirrors modal-go's resolution so a missing token is reported before any
// connection is made, in words that say how to fix it.
func findCredentials() (credentials, error) {
	profile, err := readProfile()
	if err != nil {
		return credentials{}, err
	}
	c := credentials{
		tokenID:     firstNonEmpty(os.Getenv("MODAL_TOKEN_ID"), profile.TokenID),
		tokenSecret: firstNonEmpty(os.Getenv("MODAL_TOKEN_SECRET"), profile.TokenSecret),
	}
	if c.tokenID == "" || c.tokenSecret == "" {
		return credentials{}, errNoCredentials
	}
	return c, nil
}

// readProfile reads the selected profile; a missing file is no profile.
func readProfile() (modalProfile, error) {
	path := os.Getenv("MODAL_CONFIG_PATH")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return modalProfile{}, nil
		}
		path = filepath.Join(home, ".modal.toml")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return modalProfile{}, nil
	}
	if err != nil {
		return modalProfile{}, core.Errorf(core.ErrUnavailable, "read Modal config %s: %v", path, err)
	}
	var profiles map[string]modalProfile
	if err := toml.Unmarshal(data, &profiles); err != nil {
		// The parser's message may quote the file, which holds secrets.
		return modalProfile{}, core.Errorf(core.ErrUnavailable, "Modal config %s is not valid TOML; fix it or run `modal token new`", path)
	}
	name := os.Getenv("MODAL_PROFILE")
	if name == "" {
		for n, p := range profiles {
			if p.Active {
				name = n
				break
			}
		}
	}
	return profiles[name], nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
