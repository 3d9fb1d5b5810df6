package main

import (
	"slices"
	"testing"
)

func TestInterspersed(t *testing.T) {
	app := newApp()
	cases := []struct{ in, want []string }{
		{[]string{"sena", "notebook", "ID", "-o", "f.ipynb"}, []string{"sena", "notebook", "-o", "f.ipynb", "ID"}},
		{[]string{"sena", "--json", "--state-dir", "/s", "exec", "ID", "print(1)", "--timeout", "5s"}, []string{"sena", "--json", "--state-dir", "/s", "exec", "--timeout", "5s", "ID", "print(1)"}},
		{[]string{"sena", "exec", "ID", "-1"}, []string{"sena", "exec", "--", "ID", "-1"}},                                     // code, not a flag
		{[]string{"sena", "exec", "ID", "-", "--timeout", "1s"}, []string{"sena", "exec", "--timeout", "1s", "--", "ID", "-"}}, // stdin
		{[]string{"sena", "exec", "ID", "--", "--timeout"}, []string{"sena", "exec", "--", "ID", "--timeout"}},
		{[]string{"sena", "down", "ID", "--all"}, []string{"sena", "down", "--all", "ID"}},
		{[]string{"sena", "up", "--gpu", "A100"}, []string{"sena", "up", "--gpu", "A100"}},
		{[]string{"sena", "--provider", "docker"}, []string{"sena", "--provider", "docker"}},
	}
	for _, c := range cases {
		if got := interspersed(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("interspersed(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
