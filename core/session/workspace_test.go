package session

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/sena-labs/sena/core"
)

func skillFS() fstest.MapFS {
	md := func(name, requires string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("---\nname: " + name + "\ndescription: the " + name + " skill\nrequires: [" + requires + "]\n---\n")}
	}
	return fstest.MapFS{
		"base/SKILL.md":  md("base-helpers", ""),
		"base/base.py":   {Data: []byte("B = 1\n")},
		"mid/SKILL.md":   md("mid", "base"),
		"mid/mid.py":     {Data: []byte("import base\n")},
		"top/SKILL.md":   md("top", "mid, base"),
		"top/top.py":     {Data: []byte("import mid\n")},
		"other/SKILL.md": md("other", "base"),
	}
}

func TestSkillsPullInWhatTheyRequireOnce(t *testing.T) {
	ws, err := prepareWorkspace(&core.Workspace{Skills: []string{"top", "other"}}, skillFS())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ws.skills {
		names = append(names, s.Name)
	}
	want := []string{"top", "other", "mid", "base-helpers"}
	if len(names) != len(want) {
		t.Fatalf("skills %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("skills %v, want %v", names, want)
		}
	}
	if string(ws.files["skills/base-helpers/base.py"]) != "B = 1\n" {
		t.Fatalf("required skill not copied: %v", ws.files)
	}
}

func TestWorkspaceRefusesEscapesAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "__init__.py"), nil, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(pkg, "leak.py"))
	topLink := filepath.Join(dir, "passwd.py")
	os.Symlink("/etc/passwd", topLink)
	skillLink := filepath.Join(dir, "skill-link")
	os.Symlink(pkg, skillLink)
	cases := map[string]core.Workspace{
		"symlink in a package":  {Libraries: []core.Library{{Path: pkg}}},
		"library is a symlink":  {Libraries: []core.Library{{Path: topLink}}},
		"skill is a symlink":    {Skills: []string{skillLink}},
		"inline name with path": {Libraries: []core.Library{{Name: "../x.py", Code: "1"}}},
		"inline without name":   {Libraries: []core.Library{{Code: "1"}}},
		"not a module":          {Libraries: []core.Library{{Path: "/etc/hostname"}}},
		"unknown skill":         {Skills: []string{"no-such-skill"}},
		"skill twice":           {Skills: []string{"top", "top"}},
	}
	for name, ws := range cases {
		if _, err := prepareWorkspace(&ws, skillFS()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
