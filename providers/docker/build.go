package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"

	"github.com/sena-labs/sena/core"
)

// Where a build's CA bundle travels: a file of the build context, copied
// to caImagePath, which PIP_CERT then names.
const (
	caContextName = "sena-build-ca.pem"
	caImagePath   = "/etc/sena/build-ca.pem"
)

// buildArgLines declare, in Sena's generated Dockerfiles, the pip settings
// a build may receive. The proxy variables need no ARG: the engine passes
// them to every build step and keeps them out of the image's history.
const buildArgLines = "ARG PIP_INDEX_URL\nARG PIP_EXTRA_INDEX_URL\nARG PIP_TRUSTED_HOST\nARG PIP_CERT\n"

// proxyVars are the engine's predefined build arguments that are passed on
// from Sena's environment.
var proxyVars = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "FTP_PROXY", "ftp_proxy", "ALL_PROXY", "all_proxy"}

// pipVars are pip's settings passed on to builds as they are.
var pipVars = []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"}

// caVars name a CA bundle on the host, first found wins: pip's own, then
// the ones OpenSSL and requests read. Behind TLS inspection the bundle
// holds the inspecting CA, without which pip in the build fails.
var caVars = []string{"PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}

// buildEnv is what the host's environment gives a build.
type buildEnv struct {
	args map[string]string
	ca   []byte // the CA bundle, nil for none
}

// hostBuildEnv reads the proxy, pip and CA settings from sena's environment.
func hostBuildEnv() (buildEnv, error) {
	be := buildEnv{args: map[string]string{}}
	for _, k := range append(slices.Clone(proxyVars), pipVars...) {
		if v := os.Getenv(k); v != "" {
			be.args[k] = v
		}
	}
	for _, k := range caVars {
		path := os.Getenv(k)
		if path == "" {
			continue
		}
		ca, err := os.ReadFile(path)
		if err != nil {
			return be, core.Errorf(core.ErrInvalidConfig, "%s=%s: the CA bundle for image builds cannot be read: %v", k, path, err)
		}
		be.ca = ca
		be.args["PIP_CERT"] = caImagePath
		break
	}
	return be, nil
}

// build builds df (a Dockerfile) as tag with the host's build settings plus
// args. The context is the Dockerfile and, when there is one, the CA bundle.
func (p *Provider) build(ctx context.Context, tag, df string, be buildEnv, args map[string]string, progress func(core.Progress)) error {
	return p.buildLabelled(ctx, tag, df, be, args, map[string]string{core.LabelManaged: "true"}, progress)
}

func (p *Provider) buildLabelled(ctx context.Context, tag, df string, be buildEnv, args, labels map[string]string, progress func(core.Progress)) error {
	files := map[string][]byte{"Dockerfile": []byte(df)}
	if be.ca != nil {
		files[caContextName] = be.ca
	}
	ctxTar, err := contextTar(files)
	if err != nil {
		return err
	}
	buildArgs := map[string]*string{}
	for k, v := range be.args {
		buildArgs[k] = &v
	}
	for k, v := range args {
		buildArgs[k] = &v
	}
	// The stream may run for as long as it makes progress; silence for
	// buildIdle times the base timeout means a hung engine.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.Duration(buildIdle) * p.timeout
	watchdog := time.AfterFunc(idle, func() {
		cancel(fmt.Errorf("the build of %s printed nothing for %s: the engine at %s may be hung (%s raises the limit)", tag, idle, p.engine.where(), EnvTimeout))
	})
	defer watchdog.Stop()
	resp, err := p.docker.ImageBuild(ctx, ctxTar, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		BuildArgs:   buildArgs,
		Labels:      labels,
		Version:     build.BuilderV1, // the classic builder: no BuildKit session needed
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
			return cause
		}
		return p.wrap("build "+tag, err)
	}
	defer resp.Body.Close()
	err = readBuild(&activityReader{r: resp.Body, touch: func() { watchdog.Reset(idle) }}, progress)
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled && ctx.Err() != nil {
		return cause
	}
	return err
}

// activityReader calls touch on every read that returns data.
type activityReader struct {
	r     io.Reader
	touch func()
}

func (a *activityReader) Read(b []byte) (int, error) {
	n, err := a.r.Read(b)
	if n > 0 {
		a.touch()
	}
	return n, err
}

// contextTar is a build context holding files.
func contextTar(files map[string][]byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name]))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// buildFailed is the error of a failed build of what.
func buildFailed(what string, err error) error {
	msg := err.Error()
	hint := "check that this engine reaches the registry for the base and PyPI for the packages (behind a proxy or TLS inspection: HTTPS_PROXY, PIP_INDEX_URL and PIP_CERT in sena's environment reach the build)"
	if strings.Contains(msg, "pull access denied") || strings.Contains(msg, "manifest unknown") || strings.Contains(msg, "dial tcp") {
		hint = "the engine could not pull the base image: `docker pull` it (or `docker load` it where no registry is reachable), or pass --image with an image of your own"
	}
	return core.Errorf(core.ErrUnavailable, "building %s failed: %v\n%s", what, err, hint)
}
