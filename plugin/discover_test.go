package plugin

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestDefaultDir(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := DefaultDir(); got != "/data/sena/plugins" {
		t.Errorf("with XDG_DATA_HOME: DefaultDir() = %q", got)
	}
	t.Setenv("XDG_DATA_HOME", "relative/ignored") // the XDG spec ignores relative paths
	if got := DefaultDir(); got != "/home/ada/.local/share/sena/plugins" {
		t.Errorf("without XDG_DATA_HOME: DefaultDir() = %q", got)
	}
}

func TestDirs(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	t.Setenv("XDG_DATA_HOME", "")
	def := "/home/ada/.local/share/sena/plugins"
	list := func(dirs ...string) string { return joinList(dirs) }
	for _, tc := range []struct {
		name, flag, env string
		want            []string
	}{
		{"default only", "", "", []string{def}},
		{"env list", "", list("/a", "", "/b"), []string{"/a", "/b", def}},
		{"flag wins over env", list("/f"), list("/a"), []string{"/f", def}},
		{"repeats dropped", list("/f", def, "/f"), "", []string{"/f", def}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvPluginDir, tc.env)
			if got := Dirs(tc.flag); !slices.Equal(got, tc.want) {
				t.Errorf("Dirs(%q) with %s=%q = %q, want %q", tc.flag, EnvPluginDir, tc.env, got, tc.want)
			}
		})
	}
}

func joinList(dirs []string) string {
	out := ""
	for i, d := range dirs {
		if i > 0 {
			out += string(filepath.ListSeparator)
		}
		out += d
	}
	return out
}
