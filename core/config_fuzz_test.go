package core

import (
	"errors"
	"testing"
)

// FuzzParseConfig: any bytes either load or fail with ErrInvalidConfig, and
// a config that loads validates and normalises without panicking into
// nothing negative or unbounded.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"gpu: H100:2\nmodels: [org/m@v2, {name: org/n, hidden: true}]\ntimeout: 2h\n",
		"workspace: {libraries: [a.py, {name: b.py, code: 'x=1'}], skills: [steering]}\n",
		"provider_options: {python: /usr/bin/python3, pass_env: [A]}\ncpus: .5\nmemory_mib: 64\n",
		"timeout: 1e30\n", "gpu: T4\n---\nx: 1\n", "", "env: {A: b}\nsecrets: [HF_TOKEN]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error without ErrInvalidConfig: %v", err)
			}
			return
		}
		if cfg.Timeout < 0 || cfg.IdleTimeout < 0 || cfg.Timeout.Std() > maxDuration || cfg.IdleTimeout.Std() > maxDuration {
			t.Fatalf("durations out of range: %v %v", cfg.Timeout, cfg.IdleTimeout)
		}
		if err := cfg.Validate(); err == nil {
			_ = cfg.Normalize()
		}
	})
}

// FuzzParseDuration: a duration is in [0, a year] or an ErrInvalidConfig.
func FuzzParseDuration(f *testing.F) {
	for _, seed := range []string{"90s", "1h30m", "3600", "0.5", "-1s", "1e300", "9999999999h", "NaN", "banana", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error without ErrInvalidConfig: %v", s, err)
			}
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("%q parsed to %v", s, d)
		}
	})
}
