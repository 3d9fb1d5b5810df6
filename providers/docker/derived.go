package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/pipprogress"
)

// derivedRepo names the images built for python_packages and system_packages.
const derivedRepo = "sena-derived"

// buildTailLines is how much of a failing build's output an error shows.
const buildTailLines = 25

// debianPackage is what apt-get accepts as one package: name[:arch][=version].
var debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$`)

// derivedDockerfile is the Dockerfile that installs spec's packages on base.
// Like Dockerfile.jupyter-cuda it skips what the base already has, so it
// builds without network when nothing new is asked for. Package strings are
// single-quoted for the shell; validate them first (checkPackages).
func derivedDockerfile(base, user string, systemPkgs, pythonPkgs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", base)
	if user != "" {
		b.WriteString("USER root\n")
	}
	if len(systemPkgs) > 0 {
		pkgs := shellQuoteAll(systemPkgs)
		fmt.Fprintf(&b, "RUN dpkg -s %s >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s && rm -rf /var/lib/apt/lists/*)\n", pkgs, pkgs)
	}
	if len(pythonPkgs) > 0 {
		fmt.Fprintf(&b, "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir %s\n", shellQuoteAll(pythonPkgs))
	}
	if user != "" {
		fmt.Fprintf(&b, "USER %s\n", user)
	}
	return b.String()
}

// checkPackages rejects package strings that are not packages, before
// anything is built.
func checkPackages(systemPkgs, pythonPkgs []string) error {
	for _, p := range systemPkgs {
		if !debianPackage.MatchString(p) {
			return core.Errorf(core.ErrInvalidConfig, "system package %q is not a Debian package name (as in build-essential or curl=7.88.1-10)", p)
		}
	}
	for _, p := range pythonPkgs {
		if strings.TrimSpace(p) == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, "\n\r\x00") {
			return core.Errorf(core.ErrInvalidConfig, "python package %q is not a pip requirement (as in torch or transformers>=4.40); options such as --index-url are not accepted", p)
		}
	}
	return nil
}

// derivedTag names the derived image by a hash of its Dockerfile and the
// base image's id, so a rebuilt base gets a new derived image and an
// unchanged config reuses the old one.
func derivedTag(baseID, dockerfile string) string {
	h := sha256.Sum256([]byte(baseID + "\n" + dockerfile))
	return derivedRepo + ":" + hex.EncodeToString(h[:])[:16]
}

// ensureDerived returns the derived image for spec on base, building it
// unless an image with its content hash is already there.
func (p *Provider) ensureDerived(ctx context.Context, baseRef string, base *image.InspectResponse, spec *core.SandboxSpec, progress func(core.Progress)) (string, error) {
	df := derivedDockerfile(baseRef, imageUser(base), spec.SystemPackages, spec.PythonPackages)
	tag := derivedTag(base.ID, df)
	if _, err := p.docker.ImageInspect(ctx, tag); err == nil {
		progress(core.Note("reusing %s (packages already installed on %s)", tag, baseRef))
		return tag, nil
	}
	progress(core.Note("building %s: installing packages on %s", tag, baseRef))
	ctxTar, err := dockerfileContext(df)
	if err != nil {
		return "", err
	}
	resp, err := p.docker.ImageBuild(ctx, ctxTar, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{core.LabelManaged: "true", "sena.derived.from": baseRef},
	})
	if err != nil {
		return "", p.wrap("build "+tag, err)
	}
	defer resp.Body.Close()
	if err := readBuild(resp.Body, progress); err != nil {
		return "", core.Errorf(core.ErrInvalidConfig,
			"installing packages on %s failed: %v\ncheck the package names, and that containers on this engine can reach PyPI and the Debian mirror", baseRef, err)
	}
	return tag, nil
}

// dockerfileContext is a build context holding only the Dockerfile.
func dockerfileContext(df string) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(df)); err != nil {
		return nil, err
	}
	return &buf, tw.Close()
}

// ansiEscape matches the colour codes the builder puts around stderr.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// buildMessage is one line of the engine's build stream (the fields Sena reads).
type buildMessage struct {
	Stream string `json:"stream"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// stepLine is the builder's "Step N/M : INSTRUCTION".
var stepLine = regexp.MustCompile(`^Step (\d+)/(\d+) : `)

// readBuild follows a build's JSON stream to its end, reporting each step
// as progress (steps done of all) with pip's output inside a step
// summarised. On failure the error names the failing step and shows the
// last lines of its output.
func readBuild(r io.Reader, progress func(core.Progress)) error {
	dec := json.NewDecoder(r)
	var step string
	var tail []string
	var done, total int64
	report := func(msg string) {
		progress(core.Progress{Step: "image", Message: msg, Done: done, Total: total, Unit: "steps"})
	}
	pip := &pipprogress.Tracker{Step: "image", Report: func(p core.Progress) { report(step + " · " + p.Message) }}
	for {
		var m buildMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			if total > 0 {
				done = total
				progress(core.Progress{Step: "image", Message: "built", Done: done, Total: total, Unit: "steps", Finished: true})
			}
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil {
			return fmt.Errorf("%s\n%s\n--- last lines of output ---\n%s", step, m.Error.Message, strings.Join(tail, "\n"))
		}
		for _, line := range nonEmptyLines(ansiEscape.ReplaceAllString(m.Stream, "")) {
			if strings.HasPrefix(line, "--->") || strings.HasPrefix(line, "Removing intermediate container") {
				continue // the builder's bookkeeping, not the step's output
			}
			if sm := stepLine.FindStringSubmatch(line); sm != nil {
				n, _ := strconv.ParseInt(sm[1], 10, 64)
				total, _ = strconv.ParseInt(sm[2], 10, 64)
				done = n - 1
				step, tail = line, nil
				report(line)
				continue
			}
			pip.Line(line)
			tail = append(tail, line)
			if len(tail) > buildTailLines {
				tail = tail[1:]
			}
		}
	}
}

// shellQuoteAll single-quotes each word for /bin/sh and joins them.
func shellQuoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
