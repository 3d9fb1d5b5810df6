package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/images"
)

// defaultImage is how the default image is built: images/Dockerfile.jupyter-cuda
// with these build arguments.
type defaultImage struct {
	Base           string // BASE_IMAGE
	Torch          string // TORCH: the torch requirement, "" for none
	PythonPackages string // PYTHON_PACKAGES
}

// defaultImageRecipe is the default image as Sena ships it: the
// Dockerfile's own defaults.
func defaultImageRecipe() defaultImage {
	return defaultImage{Base: "nvidia/cuda:12.8.1-base-ubuntu24.04", Torch: "torch==2.10.0", PythonPackages: "jupyter_server>=2.14 jupyterlab>=4.2 ipykernel>=6.29 numpy"}
}

// ref names the image by a hash of its recipe, so a Sena with a changed
// Dockerfile or pins builds (and uses) a new one instead of an old image
// of the same name.
func (d defaultImage) ref() string {
	h := sha256.Sum256([]byte(images.JupyterCUDA + "\x00" + d.Base + "\x00" + d.Torch + "\x00" + d.PythonPackages))
	return "sena/jupyter-cuda:" + hex.EncodeToString(h[:])[:12]
}

// buildArgs are the Dockerfile's build arguments for this recipe.
func (d defaultImage) buildArgs() map[string]string {
	return map[string]string{"BASE_IMAGE": d.Base, "TORCH": d.Torch, "PYTHON_PACKAGES": d.PythonPackages}
}

// DefaultImage is the image a spec without one runs; Sena builds it on first
// use (`docker image ls sena/jupyter-cuda` shows it).
var DefaultImage = defaultImageRecipe().ref()

// baseImage returns the image the spec runs before any packages: its Image,
// or the default image, built here when missing. Other images are never
// pulled: Sena runs what the engine has, or what it builds.
func (p *Provider) baseImage(ctx context.Context, ref string, progress func(core.Progress)) (string, *image.InspectResponse, error) {
	isDefault := ref == ""
	if isDefault {
		ref = p.image.ref()
	}
	info, err := p.inspectImage(ctx, ref)
	if cerrdefs.IsNotFound(err) && isDefault {
		if err = p.buildDefault(ctx, ref, progress); err == nil {
			info, err = p.inspectImage(ctx, ref)
		}
	} else if cerrdefs.IsNotFound(err) {
		return "", nil, missingImage(ref)
	}
	if err != nil {
		return "", nil, err
	}
	return ref, &info, nil
}

func (p *Provider) inspectImage(ctx context.Context, ref string) (image.InspectResponse, error) {
	ctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	info, err := p.docker.ImageInspect(ctx, ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return info, p.wrap("inspect image "+ref, err)
	}
	return info, err
}

// buildDefault builds the default image from the Dockerfile Sena embeds;
// the build pulls its CUDA base from the registry when the engine lacks it.
func (p *Provider) buildDefault(ctx context.Context, ref string, progress func(core.Progress)) error {
	what := "Jupyter"
	if p.image.Torch != "" {
		what = "Jupyter and " + p.image.Torch + " (several GB)"
	}
	progress(core.Note("building the default image %s on first use: pulls %s if the engine lacks it, installs %s; a few minutes", ref, p.image.Base, what))
	be, err := hostBuildEnv()
	if err != nil {
		return err
	}
	args := p.image.buildArgs()
	if be.ca != nil {
		// The Dockerfile copies nothing from a context, so the CA goes in a
		// layer of its own under the base.
		withCA := "sena-build-base:" + shortHash(p.image.Base+"\x00"+string(be.ca))
		df := fmt.Sprintf("FROM %s\nUSER root\nCOPY %s %s\n", p.image.Base, caContextName, caImagePath)
		if err := p.build(ctx, withCA, df, be, nil, progress); err != nil {
			return buildFailed(p.image.Base, err)
		}
		args["BASE_IMAGE"] = withCA
	}
	if err := p.build(ctx, ref, images.JupyterCUDA, be, args, progress); err != nil {
		return buildFailed("the default image "+ref, err)
	}
	return nil
}

func missingImage(ref string) error {
	return core.Errorf(core.ErrInvalidConfig,
		"image %s is not on this Docker engine (Sena does not pull images); leave --image out for Sena's default image, build one from images/Dockerfile.jupyter-cuda (`docker build --build-arg BASE_IMAGE=... -t %s -f images/Dockerfile.jupyter-cuda images/`), run images/build-test-image for a CPU test image, or `docker pull %s` if it already has jupyter_server and ipykernel",
		ref, ref, ref)
}

// imageUser is the user an image runs as ("" for root).
func imageUser(img *image.InspectResponse) string {
	if img.Config == nil {
		return ""
	}
	return img.Config.User
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:12]
}
