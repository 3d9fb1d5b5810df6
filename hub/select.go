package hub

import (
	"path"
	"regexp"
	"strings"

	"github.com/sena-labs/sena/core"
)

// selection picks the files of a repo to download.
type selection struct {
	allow, ignore []*regexp.Regexp
	preferSafe    bool
}

func newSelection(o *DownloadOptions) (selection, error) {
	var s selection
	var err error
	if s.allow, err = compilePatterns(o.AllowPatterns); err != nil {
		return s, err
	}
	if s.ignore, err = compilePatterns(o.IgnorePatterns); err != nil {
		return s, err
	}
	// An explicit allow list says exactly what the caller wants.
	s.preferSafe = len(o.AllowPatterns) == 0
	return s, nil
}

// pick filters names with the patterns, as huggingface_hub's
// filter_repo_objects does, then, when safetensors weights are among them,
// drops the other weight formats (pickled .bin/.pt/.pth, TF, Flax, Rust):
// transformers loads safetensors first, and the others only double the download.
func (s selection) pick(names []string) []string {
	var out []string
	safe := false
	for _, n := range names {
		if len(s.allow) > 0 && !matchAny(s.allow, n) || matchAny(s.ignore, n) {
			continue
		}
		out = append(out, n)
		safe = safe || strings.HasSuffix(n, ".safetensors")
	}
	if !s.preferSafe || !safe {
		return out
	}
	kept := out[:0]
	for _, n := range out {
		if !isOtherWeights(n) {
			kept = append(kept, n)
		}
	}
	return kept
}

var otherWeights = []string{".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".ot"}

func isOtherWeights(name string) bool {
	name = strings.TrimSuffix(name, ".index.json") // pytorch_model.bin.index.json goes with its shards
	for _, ext := range otherWeights {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

func matchAny(res []*regexp.Regexp, name string) bool {
	for _, re := range res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func compilePatterns(pats []string) ([]*regexp.Regexp, error) {
	var res []*regexp.Regexp
	for _, p := range pats {
		p = strings.ReplaceAll(p, `\`, "/")
		if strings.HasSuffix(p, "/") {
			p += "*" // a folder means everything in it, as in huggingface_hub
		}
		re, err := regexp.Compile(fnmatchRegexp(p))
		if err != nil {
			return nil, core.Errorf(core.ErrInvalidConfig, "pattern %q: %v (patterns use *, ? and [...] as in fnmatch)", p, err)
		}
		res = append(res, re)
	}
	return res, nil
}

// fnmatchRegexp translates a pattern as Python's fnmatch.translate does, since
// huggingface_hub matches with fnmatchcase: unlike path.Match, * and ? also
// match "/", and a backslash is no escape.
func fnmatchRegexp(pat string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(pat); i++ {
		switch ch := pat[i]; ch {
		case '*':
			b.WriteString(`.*`)
			for i+1 < len(pat) && pat[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(pat) && pat[j] == '!' {
				j++
			}
			if j < len(pat) && pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				b.WriteString(`\[`) // no closing bracket: a literal [
				continue
			}
			class := pat[i+1 : j]
			neg := strings.HasPrefix(class, "!")
			class = strings.TrimPrefix(class, "!")
			class = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `^`, `\^`).Replace(class)
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			}
			b.WriteString(class)
			b.WriteByte(']')
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return b.String()
}

// validRepoPath refuses file names that would escape the snapshot folder.
func validRepoPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return path.Clean(name) == name
}
