package docker

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providertest"
)

// TestConformance runs the suite against the real engine and the CPU test
// image: in process, through the gRPC shim, and as the sena-provider-docker
// binary.
func TestConformance(t *testing.T) {
	c := requireDocker(t)
	img, marker := markedImage(t, testImage(t))
	o := providertest.Options{
		New:    func(t *testing.T) core.Provider { return newProvider(t) },
		Config: func(*testing.T) core.SandboxConfig { return core.SandboxConfig{Image: img} },
		// Containers and image builds reach the host at the bridge's gateway.
		PackageHost: bridgeGateway(t, c),
		ImageCheck:  providertest.Check{Code: "print(open('/sena-conformance-marker').read().strip())", Want: marker},
	}
	if !testing.Short() {
		o.PluginMain = "./cmd/sena-provider-docker"
	}
	providertest.Run(t, o)
}

// markedImage builds an image from base with a marker file whose content
// only that image has, so the suite can tell it is the one running.
func markedImage(t *testing.T, base string) (ref, marker string) {
	t.Helper()
	marker = "conformance " + base
	ref = "sena-conformance-marked:" + strings.NewReplacer(":", "-", "/", "-").Replace(base)
	df := "FROM " + base + "\nUSER root\nRUN echo '" + marker + "' > /sena-conformance-marker\n"
	cmd := exec.Command("docker", "build", "-q", "-t", ref, "-")
	cmd.Stdin = strings.NewReader(df)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", ref, err, out)
	}
	return ref, marker
}

// bridgeGateway is the host's address on Docker's default bridge: its
// configured gateway, else (as the engine assigns it) the subnet's first.
func bridgeGateway(t *testing.T, c *client.Client) string {
	t.Helper()
	bridge, err := c.NetworkInspect(t.Context(), "bridge", network.InspectOptions{})
	if err != nil || len(bridge.IPAM.Config) == 0 {
		t.Fatalf("inspect the bridge network: %v %+v", err, bridge.IPAM)
	}
	cfg := bridge.IPAM.Config[0]
	if cfg.Gateway != "" {
		return cfg.Gateway
	}
	prefix, err := netip.ParsePrefix(cfg.Subnet)
	if err != nil {
		t.Fatalf("bridge subnet %q: %v", cfg.Subnet, err)
	}
	return prefix.Masked().Addr().Next().String()
}
