package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/hub/hubtest"
)

// TestModelsWorkspaceSecrets is `sena up --model --library --skill
// --secret` against a test hub: the model is downloaded once and loads in
// the kernel, libraries and skills import, and the secret reaches the
// kernel's environment and nothing else.
func TestModelsWorkspaceSecrets(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())

	secretBytes := make([]byte, 16)
	rand.Read(secretBytes)
	secret := "planted-" + hex.EncodeToString(secretBytes)
	sum := sha256.Sum256([]byte(secret))

	c := newCLI(t)
	c.env = []string{"HF_ENDPOINT=" + hubSrv.URL, "HF_HUB_CACHE=" + t.TempDir(), "SENA_PLANTED_SECRET=" + secret}

	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "helpers.py"), []byte("def answer():\n    return 42\n"), 0o644)
	os.MkdirAll(filepath.Join(ws, "mypkg"), 0o755)
	os.WriteFile(filepath.Join(ws, "mypkg", "__init__.py"), []byte("NAME = 'mypkg'\n"), 0o644)
	skill := filepath.Join(ws, "probing")
	os.MkdirAll(skill, 0o755)
	os.WriteFile(filepath.Join(skill, "SKILL.md"), []byte("---\nname: probing\ndescription: Train linear probes on activations.\n---\n# Probing\n"), 0o644)
	os.WriteFile(filepath.Join(skill, "probing.py"), []byte("def probe():\n    return 'probe ok'\n"), 0o644)

	r := c.ok("--json", "up", "--python", py, "--model", "sena-test/tiny-llama",
		"--library", filepath.Join(ws, "helpers.py"), "--library", filepath.Join(ws, "mypkg"),
		"--skill", skill, "--secret", "SENA_PLANTED_SECRET", "--init", "import helpers")
	var u struct {
		SessionID string `json:"session_id"`
		Models    []struct {
			Name   string `json:"name"`
			EnvVar string `json:"env_var"`
		}
		Skills []struct{ Name, Description string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		t.Fatalf("up output %q: %v", r.stdout, err)
	}
	if len(u.Models) != 1 || u.Models[0].EnvVar != "MODEL_SENA_TEST_TINY_LLAMA_PATH" {
		t.Fatalf("models in up output: %+v", u.Models)
	}
	if len(u.Skills) != 1 || u.Skills[0].Description != "Train linear probes on activations." {
		t.Fatalf("skills in up output: %+v", u.Skills)
	}
	requests := hubSrv.Requests()

	check := func(code, want string) {
		t.Helper()
		if r := c.ok("exec", u.SessionID, code); strings.TrimSpace(r.stdout) != want {
			t.Fatalf("%s\nprinted %q, want %q", code, r.stdout, want)
		}
	}
	check("import os; p = os.environ['MODEL_SENA_TEST_TINY_LLAMA_PATH']; print(os.path.exists(os.path.join(p, 'config.json')))", "True")
	check("print(helpers.answer())", "42")
	check("import mypkg; print(mypkg.NAME)", "mypkg")
	check("import probing; print(probing.probe())", "probe ok")
	check("import hashlib, os; print(hashlib.sha256(os.environ['SENA_PLANTED_SECRET'].encode()).hexdigest())", hex.EncodeToString(sum[:]))
	if exec.Command(py, "-c", "import torch, transformers").Run() == nil {
		check("from transformers import AutoModelForCausalLM\nm = AutoModelForCausalLM.from_pretrained(p)\nprint(type(m).__name__)", "LlamaForCausalLM")
	} else if os.Getenv("CI") != "" {
		t.Fatalf("CI: %s lacks torch/transformers, so the model load is not checked", py)
	}

	// A second session with the same model makes no request to the hub;
	// this one preloads it hidden: model and tokenizer are ready, and the
	// notebook never names the model.
	u2 := c.up("--python", py, "--model", "sena-test/tiny-llama", "--hide-models", "--dtype", "float32", "--provider-option", "acknowledge_visible_models=true")
	if got := hubSrv.Requests(); got != requests {
		t.Fatalf("second up made %d hub requests, want 0", got-requests)
	}
	if exec.Command(py, "-c", "import torch, transformers").Run() == nil {
		r := c.ok("exec", u2.SessionID, "import os; print(type(model).__name__, model.dtype, model.name_or_path, tokenizer('hi')['input_ids'] != [], any('TINY' in k for k in os.environ))")
		if got := strings.TrimSpace(r.stdout); got != "LlamaForCausalLM torch.float32 hidden-model True False" {
			t.Fatalf("hidden preload: %q", got)
		}
		nbData, _ := os.ReadFile(u2.NotebookPath)
		if strings.Contains(strings.ToLower(string(nbData)), "tiny-llama") {
			t.Fatalf("the hidden model's name is in the notebook")
		}
	}
	c.ok("down", u2.SessionID)

	// The secret is in no file Sena wrote, no log, no notebook, and no
	// process's command line.
	c.ok("notebook", "-o", filepath.Join(c.state, "copy.ipynb"), u.SessionID)
	filepath.Walk(c.state, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), secret) {
				t.Errorf("the secret is written in %s", p)
			}
		}
		return nil
	})
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if data, _ := os.ReadFile(p); strings.Contains(string(data), secret) {
			t.Errorf("the secret is on a command line: %s", p)
		}
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, secret) {
			t.Errorf("sena printed the secret")
		}
	}
}

// TestResumeAndMount is `sena up --resume NB --mount DIR:DEST --repo URL@REF`
// and then
// `sena up --continue`: the state comes back, the host directory is in the
// work dir, the repo imports, and what up prints says what ran.
func TestResumeAndMount(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	dir := t.TempDir()
	nb := `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
 {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": null, "outputs": [], "source": ["n = 7"]},
 {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": null, "outputs": [], "source": ["1/0"]}]}`
	nbPath := filepath.Join(dir, "exp.ipynb")
	os.WriteFile(nbPath, []byte(nb), 0o644)
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "x.txt"), []byte("hi"), 0o644)

	repo := filepath.Join(dir, "probes")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "probes.py"), []byte("LAYER = 5\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}, {"tag", "v1"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	r := c.ok("up", "--python", py, "--resume", nbPath, "--mount", filepath.Join(dir, "data")+":in", "--repo", "file://"+repo+"@v1")
	if !strings.Contains(r.stdout, "resumed   1 of 2 code cells of "+nbPath+"; code cell 2 raised ZeroDivisionError: division by zero") {
		t.Fatalf("up printed %s", r.stdout)
	}
	id := strings.Fields(r.stdout)[1]
	if out := c.ok("exec", id, "import probes; print(n, open('in/x.txt').read(), probes.LAYER)"); strings.TrimSpace(out.stdout) != "7 hi 5" {
		t.Fatalf("after resume: %q", out.stdout)
	}
	u := c.up("--python", py, "--continue", nbPath)
	if out := c.ok("exec", u.SessionID, "print('n' in dir())"); strings.TrimSpace(out.stdout) != "False" {
		t.Fatalf("continue ran cells: %q", out.stdout)
	}
	r = c.run("up", "--python", py, "--mount", filepath.Join(dir, "nope"))
	if r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("a missing mount source: exit %d, %s", r.code, r.stderr)
	}
}
