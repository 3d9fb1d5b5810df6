// Package session is Sena's session model: it brings sandboxes up through a
// core.Provider, keeps their records in a Store, runs code in their kernels
// through the one kernel client, and records every execution in a notebook.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"time"

	"github.com/sena-labs/sena/core"
)

// Record is everything a later sena process needs to use a session. It holds
// no secret: the Jupyter token is derived from the store's key when needed,
// and secrets are kept by name only.
type Record struct {
	// Version is the record's format (RecordVersion when written).
	Version  int                `json:"version"`
	ID       string             `json:"id"`
	Provider string             `json:"provider"`
	Mode     core.Mode          `json:"mode"`
	State    string             `json:"state"` // starting | ready | abandoned
	Handle   core.Handle        `json:"handle"`
	Endpoint core.Endpoint      `json:"endpoint"`
	KernelID string             `json:"kernel_id,omitempty"`
	Notebook string             `json:"notebook"`     // path inside the sandbox, relative to the Jupyter root
	UI       string             `json:"ui,omitempty"` // "lab" when the server serves JupyterLab
	Config   core.SandboxConfig `json:"config"`
	Models   []Model            `json:"models,omitempty"`
	Skills   []Skill            `json:"skills,omitempty"`
	Repos    []Repo             `json:"repos,omitempty"`
	// Scoped is the interface of a scoped session (sena mcp --scoped).
	Scoped    *Scoped   `json:"scoped,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// UpOwner is the process running `up` while State is starting (pid:start).
	UpOwner string `json:"up_owner,omitempty"`
	// Phases are the seconds from the start of `up` at which each step ended.
	Phases []Phase `json:"phases,omitempty"`
	// Environment is what the kernel was found to run in (the manifest).
	Environment *Environment `json:"environment,omitempty"`
	// Resumed is what --resume re-ran.
	Resumed *Resumed `json:"resumed,omitempty"`
	// Warm is set on a sandbox a warm pool made: while State is warm it
	// waits for a session; once taken, it says where the session came from.
	Warm *Warm `json:"warm,omitempty"`
}

// Warm is what a warm pool's sandbox carries (see Pool).
type Warm struct {
	// Pool is the id of the pool that made it.
	Pool string `json:"pool"`
	// Env and Preload are the match keys (PoolKeys) of the config it was
	// made for; Preload is "" when no weights were loaded in advance.
	Env     string `json:"env"`
	Preload string `json:"preload,omitempty"`
	// WarmedAt is when it became ready to hand over.
	WarmedAt time.Time `json:"warmed_at,omitzero"`
	// ExpiresAt is when its provider stops it: the pool's lifetime, which a
	// session taken from it keeps unless its own timeout is shorter.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// SecretStore: the provider has named secrets of its own (see Capabilities).
	SecretStore bool `json:"secret_store,omitempty"`
	// FillPhases are how it was warmed, as Phases are for a cold up.
	FillPhases []Phase `json:"fill_phases,omitempty"`
	// TakenAt is when a session took it; zero while it waits.
	TakenAt time.Time `json:"taken_at,omitzero"`
}

// RecordVersion is the format of the records this sena writes. 1 (or no
// version) is the format before provider options; a record of a newer
// format than this sena knows is refused, never guessed at.
const RecordVersion = 2

// Phase is one step of bringing a session up.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Record states.
const (
	StateStarting = "starting"
	// StateAbandoned: up failed and could not confirm that it removed the
	// sandbox; `sena gc` finishes the job.
	StateAbandoned = "abandoned"
	StateReady     = "ready"
	// StateWarm: a warm pool's sandbox, ready for a session to take it.
	StateWarm = "warm"
)

// Model is a model made available in the session. A hidden model has no
// name or variable here: only the kernel it was preloaded into knows it.
type Model struct {
	// ID names a hidden model without naming it (hidden-1, ...).
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Revision string `json:"revision,omitempty"`
	Commit   string `json:"commit,omitempty"`
	EnvVar   string `json:"env_var,omitempty"`
	Path     string `json:"path,omitempty"` // inside the sandbox
	Hidden   bool   `json:"hidden,omitempty"`
	// Adapter is true for a PEFT adapter; Base names its base model (its
	// id for a hidden one), listed as a model of its own.
	Adapter bool   `json:"adapter,omitempty"`
	Base    string `json:"base,omitempty"`
	// BaseOf names the adapter this model is the base of, when it came
	// into the sandbox as one.
	BaseOf string `json:"base_of,omitempty"`
	// Var and TokenizerVar are the kernel variables it was preloaded into.
	Var          string `json:"var,omitempty"`
	TokenizerVar string `json:"tokenizer_var,omitempty"`
}

// Skill is a workspace skill copied into the sandbox, as agents see it.
type Skill struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Path        string `json:"path"` // inside the sandbox, relative to the Jupyter root
}

// newID returns a short random session id, usable as a file and backend name.
func newID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return "s" + hex.EncodeToString(b)
}

// Token is the session's Jupyter token, derived from the store's key so it is
// never written to a state file.
func (s *Store) Token(id string) (string, error) {
	k, err := s.key()
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte("jupyter-token:" + id))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// JupyterURL is the URL a researcher opens: the notebook in JupyterLab (or
// the classic tree on servers without lab), token included.
func JupyterURL(base, token, notebook string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	if notebook != "" {
		u = u.JoinPath("lab", "tree", notebook)
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}
