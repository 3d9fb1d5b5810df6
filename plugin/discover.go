package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FilePrefix starts the file name of every provider plugin binary:
// sena-provider-NAME serves the provider NAME.
const FilePrefix = "sena-provider-"

// EnvPluginDir names plugin directories (a list, like PATH) searched before
// DefaultDir when no --plugin-dir flag is given.
const EnvPluginDir = "SENA_PLUGIN_DIR"

// Discover finds the provider plugins in dirs: every file named
// sena-provider-NAME, keyed by NAME. A name found in an earlier directory
// wins. Directories that do not exist are skipped silently; candidates that
// cannot run (directories, files without the executable bit) are skipped
// with an error that says why.
func Discover(dirs []string) (map[string]string, []error) {
	found := map[string]string{}
	var errs []error
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin directory %s: %w", dir, err))
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), FilePrefix)
			if !ok || name == "" {
				continue
			}
			if _, seen := found[name]; seen {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if err := checkExecutable(path); err != nil {
				errs = append(errs, fmt.Errorf("skipping provider plugin %s: %w", name, err))
				continue
			}
			found[name] = path
		}
	}
	return found, errs
}

// DefaultDir is where plugins are installed: $XDG_DATA_HOME/sena/plugins, else
// ~/.local/share/sena/plugins; "" when neither can be known.
func DefaultDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "sena", "plugins")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "share", "sena", "plugins")
}

// Dirs lists the plugin directories in search order: flagValue (the
// --plugin-dir flag, a list separated like PATH) or, when it is empty,
// $SENA_PLUGIN_DIR; then DefaultDir. Empty entries and repeats are dropped.
func Dirs(flagValue string) []string {
	list := flagValue
	if list == "" {
		list = os.Getenv(EnvPluginDir)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, d := range append(filepath.SplitList(list), DefaultDir()) {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		dirs = append(dirs, d)
	}
	return dirs
}
