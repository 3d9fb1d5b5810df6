package docker

import (
	"context"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/sena-labs/sena/core"
)

// resolveImage returns the image to run for spec: spec.Image (DefaultImage
// when empty), or the derived image with spec's packages installed on it.
// Images are never pulled: Sena's images are built locally.
func (p *Provider) resolveImage(ctx context.Context, spec *core.SandboxSpec, progress func(core.Progress)) (string, error) {
	ref := spec.Image
	if ref == "" {
		ref = DefaultImage
	}
	base, err := p.docker.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", missingImage(ref)
	}
	if err != nil {
		return "", p.wrap("inspect image "+ref, err)
	}
	if len(spec.PythonPackages) == 0 && len(spec.SystemPackages) == 0 {
		return ref, nil
	}
	return p.ensureDerived(ctx, ref, &base, spec, progress)
}

func missingImage(ref string) error {
	if ref == DefaultImage {
		return core.Errorf(core.ErrInvalidConfig,
			"image %s is not on this Docker engine; build it with `docker build -t %s -f images/Dockerfile.jupyter-cuda images/` (needs the nvidia/cuda base from Docker Hub), or build the CPU test image with images/build-test-image and pass --image with the reference it prints",
			ref, ref)
	}
	return core.Errorf(core.ErrInvalidConfig,
		"image %s is not on this Docker engine (Sena does not pull images); build one from images/Dockerfile.jupyter-cuda (`docker build --build-arg BASE_IMAGE=... -t %s -f images/Dockerfile.jupyter-cuda images/`), run images/build-test-image for a CPU test image, or `docker pull %s` if it already has jupyter_server and ipykernel",
		ref, ref, ref)
}

// imageUser is the user an image runs as ("" for root).
func imageUser(img *image.InspectResponse) string {
	if img.Config == nil {
		return ""
	}
	return img.Config.User
}
