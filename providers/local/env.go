package local

import (
	"os"
	"strings"
)

// hostEnv are the host variables a local sandbox inherits: what Python,
// pip, CUDA and the locale need, and no credentials. Everything else of the
// shell that ran sena (API keys, tokens) stays out; the config's env and
// secrets are what a sandbox gets beyond these.
var hostEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ", "TMPDIR",
	"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
	"PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR",
	"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_CERT", "PIP_TRUSTED_HOST",
	"LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH",
	"HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "TRANSFORMERS_CACHE",
}

// hostEnvPrefixes are families of variables a sandbox inherits whole.
var hostEnvPrefixes = []string{"LC_", "NVIDIA_"}

// sandboxEnv is a local sandbox's environment: the host's variables in
// hostEnv, then the spec's (which may override them).
func sandboxEnv(spec map[string]string) []string {
	keep := map[string]bool{}
	for _, k := range hostEnv {
		keep[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] || hasAnyPrefix(k, hostEnvPrefixes) {
			env = append(env, kv)
		}
	}
	for k, v := range spec {
		env = append(env, k+"="+v)
	}
	return env
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
