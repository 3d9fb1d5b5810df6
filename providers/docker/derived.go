package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
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

// requirementSeparators are what PEP 503 folds into one dash.
var requirementSeparators = regexp.MustCompile(`[-_.]+`)

// Labels of a derived image: what it was built from and with, for `sena gc --images`.
const (
	labelDerivedFrom     = "sena.derived.from"
	labelDerivedPackages = "sena.derived.packages"
)

// heavyPackages are pip distributions big enough to get a layer of their
// own, built before the others: a config that changes only the small
// packages then reuses the cached heavy layer instead of downloading
// gigabytes again.
var heavyPackages = map[string]bool{
	"torch": true, "torchvision": true, "torchaudio": true, "triton": true, "xformers": true,
	"flash-attn": true, "deepspeed": true, "vllm": true, "jax": true, "jaxlib": true,
	"tensorflow": true, "bitsandbytes": true,
}

// packageSet is a normalised request for packages: sorted, without
// duplicates, the heavy pip requirements apart. Two configs that ask for
// the same packages in another order get the same set, and the same image.
type packageSet struct {
	System []string
	Heavy  []string
	Python []string
}

func newPackageSet(system, python []string) packageSet {
	var ps packageSet
	ps.System = sortedUnique(system, func(s string) string { return s })
	for _, r := range sortedUnique(python, requirementName) {
		if heavyPackages[requirementName(r)] {
			ps.Heavy = append(ps.Heavy, r)
		} else {
			ps.Python = append(ps.Python, r)
		}
	}
	return ps
}

// sortedUnique sorts by key, then the whole string, dropping exact duplicates.
func sortedUnique(in []string, key func(string) string) []string {
	out := slices.Clone(in)
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := strings.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

// requirementName is a pip requirement's distribution name, normalised as
// PEP 503 does (Torch_Vision -> torch-vision).
func requirementName(r string) string {
	end := strings.IndexFunc(r, func(c rune) bool {
		return !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	})
	if end < 0 {
		end = len(r)
	}
	return strings.ToLower(requirementSeparators.ReplaceAllString(r[:end], "-"))
}

// String is the set as the image's label and hash see it.
func (ps packageSet) String() string {
	return "system: " + strings.Join(ps.System, " ") + "\nheavy: " + strings.Join(ps.Heavy, " ") + "\npython: " + strings.Join(ps.Python, " ")
}

// derivedDockerfile is the Dockerfile that installs ps on base: apt first
// (pip builds may need its headers), the heavy pip requirements in a layer
// of their own, then the rest. Like Dockerfile.jupyter-cuda it skips what
// the base already has, so it builds without network when nothing new is
// asked for. With withCA the build's CA bundle is copied in first, for pip
// behind TLS inspection. Package strings are single-quoted for the shell;
// validate them first (checkPackages).
func derivedDockerfile(base, user string, ps packageSet, withCA bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", base)
	if user != "" {
		b.WriteString("USER root\n")
	}
	if withCA {
		fmt.Fprintf(&b, "COPY %s %s\n", caContextName, caImagePath)
	}
	b.WriteString(buildArgLines)
	if len(ps.System) > 0 {
		pkgs := shellQuoteAll(ps.System)
		fmt.Fprintf(&b, "RUN dpkg -s %s >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s && rm -rf /var/lib/apt/lists/*)\n", pkgs, pkgs)
	}
	for _, group := range [][]string{ps.Heavy, ps.Python} {
		if len(group) > 0 {
			fmt.Fprintf(&b, "RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir %s\n", shellQuoteAll(group))
		}
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

// derivedTag names the derived image by a hash of the base image's id, its
// user and the package set, so a rebuilt base gets a new derived image and
// the same packages in any order reuse the old one. How the build reaches
// the index (proxies, CA) is not part of it.
func derivedTag(baseID, user string, ps packageSet) string {
	h := sha256.Sum256([]byte(baseID + "\n" + user + "\n" + ps.String()))
	return derivedRepo + ":" + hex.EncodeToString(h[:])[:16]
}

// withPackages returns the image to run: base itself, or the derived image
// with spec's packages installed on it, built unless an image with its
// hash is already there.
func (p *Provider) withPackages(ctx context.Context, baseRef string, base *image.InspectResponse, spec *core.SandboxSpec, progress func(core.Progress)) (string, error) {
	if len(spec.PythonPackages) == 0 && len(spec.SystemPackages) == 0 {
		return baseRef, nil
	}
	ps := newPackageSet(spec.SystemPackages, spec.PythonPackages)
	user := imageUser(base)
	tag := derivedTag(base.ID, user, ps)
	if _, err := p.inspectImage(ctx, tag); err == nil {
		progress(core.Note("reusing %s (packages already installed on %s)", tag, baseRef))
		return tag, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", err
	}
	be, err := hostBuildEnv()
	if err != nil {
		return "", err
	}
	progress(core.Note("building %s: installing packages on %s", tag, baseRef))
	df := derivedDockerfile(baseRef, user, ps, be.ca != nil)
	labels := map[string]string{core.LabelManaged: "true", labelDerivedFrom: baseRef, labelDerivedPackages: ps.String()}
	if err := p.buildLabelled(ctx, tag, df, be, nil, labels, progress); err != nil {
		return "", core.Errorf(core.ErrInvalidConfig,
			"installing packages on %s failed: %v\ncheck the package names, and that containers on this engine can reach PyPI and the Debian mirror (behind a proxy or TLS inspection: HTTPS_PROXY, PIP_INDEX_URL and PIP_CERT in sena's environment reach the build)", baseRef, err)
	}
	return tag, nil
}

// ansiEscape matches the colour codes the builder puts around stderr.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// buildMessage is one line of the engine's build stream (the fields Sena reads).
type buildMessage struct {
	Stream string `json:"stream"`
	Status string `json:"status"` // pulling the base
	ID     string `json:"id"`
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
		if m.Status != "" && !noisyStatus[m.Status] {
			progress(core.Progress{Step: "image", Message: strings.TrimSpace(m.ID + " " + m.Status), Done: done, Total: total, Unit: "steps"})
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

// noisyStatus are pull statuses repeated for every chunk of every layer.
var noisyStatus = map[string]bool{"Downloading": true, "Extracting": true, "Waiting": true, "Verifying Checksum": true, "Pulling fs layer": true}

// shellQuoteAll single-quotes each word for /bin/sh and joins them.
func shellQuoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
