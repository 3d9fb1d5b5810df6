package modal

import (
	"regexp"
	"strings"

	"github.com/sena-labs/sena/core"
)

// imageRecipe is a Dockerfile split the way modal-go builds images: the base
// for Images.FromRegistry and the commands after FROM for DockerfileCommands.
type imageRecipe struct {
	base     string
	commands []string
}

// argDefault matches `ARG NAME=default` before FROM.
var argDefault = regexp.MustCompile(`^ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)$`)

// parseDockerfile reads a Dockerfile of the shape images.JupyterCUDA has: ARG
// lines, one FROM, then RUN/ENV/WORKDIR/... lines. ARG defaults are
// substituted into FROM (Modal has no build arguments); continuation lines
// are joined so that each command is one Dockerfile instruction.
func parseDockerfile(text string) (imageRecipe, error) {
	var r imageRecipe
	args := map[string]string{}
	for _, line := range logicalLines(text) {
		keyword := strings.ToUpper(strings.Fields(line)[0])
		switch {
		case r.base == "" && keyword == "ARG":
			if m := argDefault.FindStringSubmatch(line); m != nil {
				args[m[1]] = m[2]
			}
		case r.base == "" && keyword == "FROM":
			r.base = expandArgs(strings.TrimSpace(line[len("FROM"):]), args)
			if strings.Contains(r.base, "$") || strings.ContainsAny(r.base, " \t") {
				return imageRecipe{}, core.Errorf(core.ErrInvalidConfig, "image recipe: FROM %q: want one image reference (ARG defaults are substituted)", r.base)
			}
		case r.base == "":
			return imageRecipe{}, core.Errorf(core.ErrInvalidConfig, "image recipe: %s before FROM", keyword)
		case keyword == "COPY" || keyword == "ADD" || keyword == "FROM":
			// Modal builds without a local context, and one base only.
			return imageRecipe{}, core.Errorf(core.ErrInvalidConfig, "image recipe: %s is not supported on Modal", keyword)
		default:
			r.commands = append(r.commands, line)
		}
	}
	if r.base == "" {
		return imageRecipe{}, core.Errorf(core.ErrInvalidConfig, "image recipe has no FROM line")
	}
	return r, nil
}

// logicalLines drops comments and blank lines and joins backslash
// continuations, as Docker's parser does.
func logicalLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(raw); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		// A continuation keeps its indentation, as in Docker; a new
		// instruction starts at its keyword.
		line := strings.TrimRight(raw, " \t\r")
		if cur.Len() == 0 {
			line = strings.TrimLeft(line, " \t")
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont)
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// expandArgs substitutes ${NAME} and $NAME from ARG defaults.
func expandArgs(s string, args map[string]string) string {
	for name, value := range args {
		s = strings.ReplaceAll(s, "${"+name+"}", value)
		s = strings.ReplaceAll(s, "$"+name, value)
	}
	return s
}

// debianPackage is a Debian package name, optionally pinned (name=version).
var debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$`)

// packageCommands are the Dockerfile commands that add the config's system
// and Python packages on top of the recipe. They form their own layers, so
// Modal reuses the cached recipe layers when only the packages change.
func packageCommands(system, python []string) ([]string, error) {
	var cmds []string
	if len(system) > 0 {
		for _, p := range system {
			if !debianPackage.MatchString(p) {
				return nil, core.Errorf(core.ErrInvalidConfig, "system package %q: want a Debian package name such as git or libgl1", p)
			}
		}
		cmds = append(cmds, "RUN apt-get update && apt-get install -y --no-install-recommends "+
			strings.Join(system, " ")+" && rm -rf /var/lib/apt/lists/*")
	}
	if len(python) > 0 {
		quoted := make([]string, len(python))
		for i, p := range python {
			if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, "\n\r\x00") {
				return nil, core.Errorf(core.ErrInvalidConfig, "python package %q: want a pip requirement such as torch or transformers>=4.44", p)
			}
			quoted[i] = shellQuote(p)
		}
		cmds = append(cmds, "RUN python3 -m pip install "+strings.Join(quoted, " "))
	}
	return cmds, nil
}

// shellQuote quotes s for /bin/sh: requirement strings hold >, <, ; and [].
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
