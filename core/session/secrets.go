package session

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/sena-labs/sena/core"
)

// DotEnvFile is read for secrets missing from the environment.
var DotEnvFile = ".env"

// resolveSecrets takes each named secret's value from the environment, or
// else from DotEnvFile. Values go only into the sandbox's environment. With
// backendStore, a secret found in neither is left to the backend's own
// secret store (the provider errors if it has none of that name).
func resolveSecrets(names []string, backendStore bool) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var dotenv map[string]string
	out := map[string]string{}
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			out[n] = v
			continue
		}
		if dotenv == nil {
			var err error
			if dotenv, err = readDotEnv(DotEnvFile); err != nil {
				return nil, err
			}
		}
		v, ok := dotenv[n]
		if !ok && backendStore {
			continue
		}
		if !ok {
			return nil, core.Errorf(core.ErrInvalidConfig, "secret %s is not set: export %s=... or add it to %s", n, n, DotEnvFile)
		}
		out[n] = v
	}
	return out, nil
}

// readDotEnv parses KEY=VALUE lines ("export " and quotes allowed). The
// error never quotes a line, since lines hold secrets.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, core.Errorf(core.ErrInvalidConfig, "%s line %d: expected KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}
