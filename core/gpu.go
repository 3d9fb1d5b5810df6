package core

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GPU is a request for Count GPUs of one Kind. The zero value means CPU only.
type GPU struct {
	Kind  string `json:"kind,omitempty"`
	Count int    `json:"count,omitempty"`
}

// KnownGPUKinds are the GPU kinds Sena knows by name. A provider offers a
// subset (Capabilities.GPUKinds).
var KnownGPUKinds = []string{"T4", "L4", "A10", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "RTX-PRO-6000", "H100", "H200", "B200"}

// GPUVariants are kinds that ask a backend for a known kind with a rule
// about upgrades, as Modal names them: "H100!" is exactly an H100 (never
// upgraded to an H200), "B200+" a B200 or a newer Blackwell at the B200
// price. They parse like kinds; only a provider that lists them in
// Capabilities.GPUKinds accepts them.
var GPUVariants = []string{"H100!", "B200+"}

// ParseGPU parses "", "H100" or "H100:4". Kinds are case-insensitive.
func ParseGPU(s string) (GPU, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") || strings.EqualFold(s, "cpu") {
		return GPU{}, nil
	}
	kind, count := s, 1
	if k, n, ok := strings.Cut(s, ":"); ok {
		c, err := strconv.Atoi(n)
		if err != nil || c < 1 {
			return GPU{}, Errorf(ErrInvalidConfig, "gpu %q: the count after ':' must be a positive integer, as in H100:4", s)
		}
		kind, count = k, c
	}
	for _, known := range slices.Concat(KnownGPUKinds, GPUVariants) {
		if strings.EqualFold(kind, known) {
			return GPU{Kind: known, Count: count}, nil
		}
	}
	return GPU{}, Errorf(ErrInvalidConfig, "gpu %q: unknown GPU kind; known kinds are %s (and %s where a provider offers them)",
		s, strings.Join(KnownGPUKinds, ", "), strings.Join(GPUVariants, ", "))
}

// String formats the GPU as ParseGPU reads it ("" for none).
func (g GPU) String() string {
	switch {
	case g.Kind == "":
		return ""
	case g.Count <= 1:
		return g.Kind
	default:
		return fmt.Sprintf("%s:%d", g.Kind, g.Count)
	}
}

// CheckGPU reports whether a provider with these capabilities can attach g.
func (c Capabilities) CheckGPU(provider string, g GPU) error {
	if g.Kind == "" {
		return nil
	}
	if len(c.GPUKinds) == 0 {
		return Errorf(ErrUnsupported, "provider %s has no %s GPU: it found no GPUs; drop --gpu to run on CPU, or choose a provider with GPUs (`sena providers`)", provider, g.Kind)
	}
	for _, k := range c.GPUKinds {
		if strings.EqualFold(k, g.Kind) {
			if c.MaxGPUs > 0 && g.Count > c.MaxGPUs {
				return Errorf(ErrUnsupported, "provider %s offers at most %d GPUs per sandbox, %d requested", provider, c.MaxGPUs, g.Count)
			}
			return nil
		}
	}
	return Errorf(ErrUnsupported, "provider %s does not offer GPU kind %s; it offers %s", provider, g.Kind, strings.Join(c.GPUKinds, ", "))
}
