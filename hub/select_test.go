package hub

import (
	"slices"
	"testing"
)

// The expectations are Python's fnmatch.fnmatchcase, which huggingface_hub uses.
func TestPatternsMatchLikePythonFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*.json", "config.json", true},
		{"*.json", "sub/dir/config.json", true}, // * crosses "/", unlike path.Match
		{"sub/*", "sub/a/b.txt", true},
		{"sub/", "sub/a/b.txt", true}, // a folder means everything in it
		{"sub/", "subway.txt", false},
		{"model-?????-of-00002.safetensors", "model-00001-of-00002.safetensors", true},
		{"[!.]*", ".gitattributes", false},
		{"[!.]*", "README.md", true},
		{"[a-c]*", "config.json", true},
		{"[a-c]*", "model.bin", false},
		{"a[", "a[", true},               // an unclosed bracket is literal
		{"*.JSON", "config.json", false}, // case-sensitive
		{`sub\*`, "sub/x", true},         // backslashes are separators, not escapes
		{"(x)+", "(x)+", true},
	} {
		re, err := compilePatterns([]string{tc.pattern})
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := matchAny(re, tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestSafetensorsPreference(t *testing.T) {
	sharded := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		"model.safetensors.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
		"pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack", "original/consolidated.00.pth", "tokenizer.model"}
	got := selection{preferSafe: true}.pick(sharded)
	want := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		"model.safetensors.index.json", "tokenizer.model"}
	if !slices.Equal(got, want) {
		t.Fatalf("picked %v, want %v", got, want)
	}
	// Without safetensors, the .bin weights are all there is.
	binOnly := []string{"config.json", "pytorch_model.bin"}
	if got := (selection{preferSafe: true}).pick(binOnly); !slices.Equal(got, binOnly) {
		t.Fatalf("picked %v from a .bin-only repo", got)
	}
}

func TestRepoPathsThatEscapeAreRefused(t *testing.T) {
	for _, p := range []string{"../x", "a/../../x", "/etc/passwd", `a\b`, "a//b", "./a", ""} {
		if validRepoPath(p) {
			t.Errorf("%q accepted", p)
		}
	}
	for _, p := range []string{"config.json", "sub/dir/x.safetensors", ".gitattributes", "a..b"} {
		if !validRepoPath(p) {
			t.Errorf("%q refused", p)
		}
	}
}
