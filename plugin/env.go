package plugin

import (
	"os"
	"strings"
)

// EnvPassVar names, in the host's environment, more variables every plugin
// receives (comma-separated), for plugins whose credentials live there.
const EnvPassVar = "SENA_PLUGIN_ENV"

// baseEnv are the variables every plugin receives: what a program needs to
// run, find its files and reach the network, and no credentials.
var baseEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
	"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	// Where a container engine is and how image builds reach package
	// indexes: settings, not credentials.
	"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION",
	"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT", "REQUESTS_CA_BUNDLE",
	"SENA_DOCKER_TIMEOUT",
}

// pluginEnv is the environment a plugin starts with: baseEnv, the locale
// (LC_*), the variables named in SENA_PLUGIN_ENV, and those in pass. The
// host's other variables (API keys, tokens, the shell's secrets) stay out.
func pluginEnv(pass []string) []string {
	want := map[string]bool{}
	for _, k := range baseEnv {
		want[k] = true
	}
	for _, k := range strings.Split(os.Getenv(EnvPassVar), ",") {
		want[strings.TrimSpace(k)] = true
	}
	for _, k := range pass {
		want[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if want[k] || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return env
}
