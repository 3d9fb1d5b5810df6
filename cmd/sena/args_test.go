package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	app := newApp()
	cases := []struct{ in, want []string }{
		{[]string{"sena", "notebook", "ID", "-o", "f.ipynb"}, []string{"sena", "notebook", "-o", "f.ipynb", "ID"}},
		{[]string{"sena", "--json", "--state-dir", "/s", "exec", "ID", "print(1)", "--timeout", "5s"}, []string{"sena", "--json", "--state-dir", "/s", "exec", "--timeout", "5s", "ID", "print(1)"}},
		{[]string{"sena", "exec", "ID", "-1"}, []string{"sena", "exec", "--", "ID", "-1"}},                                     // code, not a flag
		{[]string{"sena", "exec", "ID", "-", "--timeout", "1s"}, []string{"sena", "exec", "--timeout", "1s", "--", "ID", "-"}}, // stdin
		{[]string{"sena", "exec", "ID", "--", "--timeout"}, []string{"sena", "exec", "--", "ID", "--timeout"}},
		{[]string{"sena", "exec", "ID", "-x + 1"}, []string{"sena", "exec", "--", "ID", "-x + 1"}},
		{[]string{"sena", "down", "ID", "--all"}, []string{"sena", "down", "--all", "ID"}},
		{[]string{"sena", "up", "--gpu", "A100"}, []string{"sena", "up", "--gpu", "A100"}},
		{[]string{"sena", "--provider", "docker"}, []string{"sena", "--provider", "docker"}},
		// global flags after the command move in front of it
		{[]string{"sena", "ls", "--json"}, []string{"sena", "--json", "ls"}},
		{[]string{"sena", "exec", "ID", "1", "--state-dir", "/s", "--json"}, []string{"sena", "--state-dir", "/s", "--json", "exec", "ID", "1"}},
		{[]string{"sena", "up", "--gpu", "T4", "--json"}, []string{"sena", "--json", "up", "--gpu", "T4"}},
		// ... except where the command has a flag of that name: up's --provider is a setting
		{[]string{"sena", "up", "--provider", "modal"}, []string{"sena", "up", "--provider", "modal"}},
		{[]string{"sena", "ls", "--provider=docker"}, []string{"sena", "--provider=docker", "ls"}},
		// help anywhere
		{[]string{"sena", "up", "--help"}, []string{"sena", "up", "--help"}},
		{[]string{"sena", "exec", "ID", "code", "-h"}, []string{"sena", "exec", "-h"}},
		{[]string{"sena", "mcp", "config", "--help"}, []string{"sena", "mcp", "config", "--help"}},
		{[]string{"sena", "help", "up"}, []string{"sena", "up", "--help"}},
		{[]string{"sena", "help", "mcp", "config"}, []string{"sena", "mcp", "config", "--help"}},
		{[]string{"sena", "help"}, []string{"sena", "help"}},
		{[]string{"sena", "mcp", "--http", "127.0.0.1:1", "config"}, []string{"sena", "mcp", "--http", "127.0.0.1:1", "config"}},
		// completion words pass through untouched
		{[]string{"sena", "__complete", "up", "--g"}, []string{"sena", "__complete", "--", "up", "--g"}},
	}
	for _, c := range cases {
		got, err := normalize(app, c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}

	bad := []struct {
		in   []string
		want string
	}{
		{[]string{"sena", "ls", "--bogus"}, `unknown flag --bogus for "sena ls"`},
		{[]string{"sena", "up", "--gpus", "A100"}, "did you mean --gpu?"},
		{[]string{"sena", "lss"}, `unknown command "lss" for "sena"; did you mean "ls"?`},
		{[]string{"sena", "exce", "x"}, `did you mean "exec"?`},
		{[]string{"sena", "help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"sena", "exec", "ID", "-x"}, "code that starts with - goes after --"},
		{[]string{"sena", "__complete2"}, "unknown command"},
	}
	for _, c := range bad {
		_, err := normalize(app, c.in)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("normalize(%q) = %v; want a usage error with %q", c.in, err, c.want)
		}
	}
}

func TestNearest(t *testing.T) {
	for in, want := range map[string]string{"notebok": "notebook", "pul": "pull", "provders": "providers", "xyzzy": ""} {
		if got := nearest(in, []string{"notebook", "pull", "providers", "ls"}); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFitList(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a/b,c/d", 20, "a/b,c/d"},
		{"google/gemma-2-9b-it,meta/llama-3-8b", 24, "google/gemma-2-9b-it,+1"},
		{"google/gemma-2-9b-it,meta/llama-3-8b", 12, "google/g…,+1"},
	} {
		if got := fitList(c.in, c.n); got != c.want || len([]rune(got)) > c.n {
			t.Errorf("fitList(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
