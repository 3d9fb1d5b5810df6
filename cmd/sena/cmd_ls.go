package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/internal/humanize"
	"github.com/urfave/cli/v2"
)

var lsCommand = &cli.Command{
	Name:  "ls",
	Usage: "list sessions with their live state, and any sandbox of this state dir that no session owns",
	UsageText: "sena ls [--wide]\n\n" +
		"STATUS is running, stopped, starting, abandoned (its up was killed: sena gc removes it),\n" +
		"unknown (the backend did not answer), orphan (a sandbox with no session: sena gc), or warm:\n" +
		"a warm pool's sandbox waiting for a session, or the pool itself (its id starts with p) while\n" +
		"its keeper runs (abandoned once the keeper is gone: sena gc removes the pool).",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "wide", Aliases: []string{"w"}, Usage: "add each session's Jupyter URL (token included) and notebook"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("ls takes no arguments, got %q (see sena ls --help)", c.Args().First())
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		all, errs := e.manager.List(c.Context, listProviders(c, e))
		unreachable := warn(c, errs)
		pools, err := e.manager.Pools()
		if err != nil {
			return err
		}
		rows := make([]lsRow, 0, len(all)+len(pools))
		for _, p := range pools {
			rows = append(rows, poolRow(p))
		}
		for _, s := range all {
			rows = append(rows, e.lsRow(s))
		}
		if e.json {
			return errors.Join(writeJSON(c, rows), unreachable)
		}
		if len(rows) == 0 && unreachable == nil {
			fmt.Fprintln(c.App.Writer, "no sessions (start one with `sena up`)")
			return nil
		}
		return errors.Join(printLs(c, rows, c.Bool("wide")), unreachable)
	},
}

// lsWidth is the width `sena ls` keeps to without --wide.
const lsWidth = 100

// printLs writes the table: ID, STATE, PROVIDER, GPU, AGE, then as many
// MODELS as fit in lsWidth; with wide, also the URL and notebook.
func printLs(c *cli.Context, rows []lsRow, wide bool) error {
	head := []string{"SESSION", "STATUS", "PROVIDER", "GPU", "AGE", "MODELS"}
	if wide {
		head = append(head, "JUPYTER", "NOTEBOOK")
	}
	cells := [][]string{head}
	for _, r := range rows {
		gpu := r.GPU
		if len(r.GPUs) > 0 { // the devices it holds, by their UUIDs' first digits
			var short []string
			for _, u := range r.GPUs {
				short = append(short, shortDevice(u))
			}
			gpu = strings.TrimSpace(gpu + " " + strings.Join(short, ","))
		}
		if gpu == "" {
			gpu = "-"
		}
		status := r.Status
		if r.Reason != "" {
			status += " (" + r.Reason + ")" // queued (Resources), stopped (its timeout ran out)
		}
		age := "-"
		if !r.CreatedAt.IsZero() {
			age = humanize.Age(time.Since(r.CreatedAt))
		}
		models := strings.Join(r.Models, ",")
		if k := r.Keeper; k != nil {
			models = fmt.Sprintf("pool: %d/%d warm, keeper pid %d", len(k.Warm), k.Count, k.PID)
			if len(r.Models) > 0 {
				models += ", " + strings.Join(r.Models, ",")
			}
		}
		line := []string{r.ID, status, r.Provider, gpu, age, models}
		if wide {
			line = append(line, dash(r.JupyterURL), dash(r.NotebookPath))
		}
		cells = append(cells, line)
	}
	if !wide {
		fitLastColumn(cells, lsWidth)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	for _, line := range cells {
		fmt.Fprintln(tw, strings.TrimRight(strings.Join(line, "\t"), "\t"))
	}
	return tw.Flush()
}

// fitLastColumn cuts the last column so that every row fits in width
// (with tabwriter's two spaces of padding), ending cut lists with "+N".
func fitLastColumn(cells [][]string, width int) {
	n := len(cells[0])
	widths := make([]int, n)
	for _, line := range cells {
		for i, s := range line[:n-1] {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	room := width
	for _, w := range widths[:n-1] {
		room -= w + 2
	}
	room = max(room, len("MODELS"))
	for _, line := range cells[1:] {
		line[n-1] = fitList(line[n-1], room)
	}
}

// fitList shortens "a,b,c" to at most n characters as "a,+2".
func fitList(list string, n int) string {
	if len([]rune(list)) <= n {
		return list
	}
	items := strings.Split(list, ",")
	for k := len(items) - 1; k >= 1; k-- {
		s := strings.Join(items[:k], ",") + fmt.Sprintf(",+%d", len(items)-k)
		if len([]rune(s)) <= n {
			return s
		}
	}
	r := []rune(items[0])
	more := ""
	if len(items) > 1 {
		more = fmt.Sprintf(",+%d", len(items)-1)
	}
	keep := max(n-len(more)-1, 1)
	if keep < len(r) {
		return string(r[:keep]) + "…" + more
	}
	return string(r) + more
}

// shortDevice is a GPU UUID cut to what tells devices apart at a glance
// (GPU-724a7f7a); `sena ls --json` has them whole.
func shortDevice(uuid string) string {
	if r := []rune(uuid); len(r) > 12 {
		return string(r[:12])
	}
	return uuid
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lsRow is one entry of `sena ls --json` (docs/schemas/ls.schema.json).
type lsRow struct {
	ID string `json:"session_id"`
	// Status is the live status (running, stopped, unknown), or starting,
	// abandoned (its up was killed), orphan (a sandbox with no session).
	Status string `json:"status"`
	// Reason says why, where the backend says: queued (Resources),
	// stopped (SLURM's time limit reached, Docker's "its timeout ran out").
	Reason       string    `json:"reason,omitempty"`
	Provider     string    `json:"provider"`
	Mode         core.Mode `json:"mode"`
	GPU          string    `json:"gpu"`
	Models       []string  `json:"models"`
	CreatedAt    time.Time `json:"created_at"`
	JupyterURL   string    `json:"jupyter_url"`
	NotebookPath string    `json:"notebook_path"`
	// Orphan: a sandbox of this state dir with no session (`sena gc`).
	Orphan bool `json:"orphan"`
	// GPUs are the devices the sandbox holds, as its provider reports them.
	GPUs []string `json:"gpus"`
	// Pool is the warm pool the sandbox came from (or waits in).
	Pool string `json:"pool,omitempty"`
	// Keeper is set on a pool's own row.
	Keeper *keeperRow `json:"keeper,omitempty"`
}

// keeperRow is a warm pool as `sena ls --json` shows it.
type keeperRow struct {
	PID       int       `json:"pid"`
	Alive     bool      `json:"alive"`
	Count     int       `json:"count"`
	Warm      []string  `json:"warm"`
	Filling   []string  `json:"filling"`
	ExpiresAt time.Time `json:"expires_at"`
	Preload   bool      `json:"preload"`
	Error     string    `json:"error,omitempty"`
}

func poolRow(p session.PoolStatus) lsRow {
	r := lsRow{
		ID: p.ID, Status: "warm", Provider: p.Config.Provider, GPU: p.Config.GPU, Models: []string{}, GPUs: []string{}, CreatedAt: p.CreatedAt,
		Keeper: &keeperRow{PID: p.KeeperPID(), Alive: p.KeeperAlive(), Count: p.Count, Warm: nonNil(p.Warm), Filling: nonNil(p.Filling),
			ExpiresAt: p.ExpiresAt, Preload: p.Preload != "", Error: p.Error},
	}
	if !r.Keeper.Alive {
		r.Status = "abandoned" // its keeper is gone; `sena gc` removes the pool
	}
	for _, m := range p.Config.Models {
		if m.Hidden {
			r.Models = append(r.Models, "(hidden)")
		} else {
			r.Models = append(r.Models, m.Name)
		}
	}
	return r
}

func (e *env) lsRow(s session.SessionStatus) lsRow {
	r := lsRow{
		ID: s.ID, Provider: s.Provider, Status: string(s.Status), Reason: s.Reason, Mode: s.Mode, GPU: s.Config.GPU,
		CreatedAt: s.CreatedAt, Orphan: s.Orphan, Models: []string{},
		GPUs: append([]string{}, s.GPUs...),
	}
	for _, m := range s.Models {
		name := m.Name
		if m.Hidden {
			name = "(hidden)"
		}
		r.Models = append(r.Models, name)
	}
	if len(s.Models) == 0 {
		for _, m := range s.Config.Models { // not fetched yet: as configured
			if !m.Hidden {
				r.Models = append(r.Models, m.Name)
			}
		}
	}
	if s.Orphan {
		r.Status = "orphan"
		return r
	}
	if s.Warm != nil {
		r.Pool = s.Warm.Pool
	}
	switch {
	case s.Abandoned():
		r.Status = "abandoned" // its up died or failed unconfirmed; `sena gc` removes it
	case s.State == session.StateStarting && s.Status != core.StatusQueued: // a queued job's up waits for it
		r.Status = "starting"
	case s.State == session.StateWarm && s.Status == core.StatusRunning:
		r.Status = "warm"
	}
	r.JupyterURL, _ = e.manager.JupyterURL(s.Record)
	r.NotebookPath = e.manager.Store().NotebookPath(s.ID)
	return r
}

// listProviders are the backends searched for sandboxes: the one named
// with --provider, or every provider, plugins included (unreachable ones
// are skipped).
func listProviders(c *cli.Context, e *env) []string {
	if v, explicit := globalProvider(c); explicit {
		return []string{v}
	}
	// Every provider, plugins included, so that no sandbox of this state
	// dir runs unseen even when its record is lost.
	return e.registry.Names()
}

// warn prints the errors of listing providers. A provider that cannot be
// reached is skipped (a backend that is not set up has no sandboxes of
// ours) unless sessions are recorded on it or --provider named it: then
// the command must fail, and warn returns the error saying why.
func warn(c *cli.Context, errs []error) error {
	_, named := globalProvider(c)
	var fatal []error
	for _, err := range errs {
		var ur *session.UnreachableError
		switch {
		case errors.As(err, &ur), named && errors.Is(err, core.ErrUnavailable):
			fatal = append(fatal, err)
		case errors.Is(err, core.ErrUnavailable):
		default:
			fmt.Fprintln(c.App.ErrWriter, "sena: warning:", err)
		}
	}
	return errors.Join(fatal...)
}

var urlCommand = &cli.Command{
	Name:      "url",
	Usage:     "print a session's Jupyter URL, token included (it opens the notebook in JupyterLab)",
	UsageText: "sena url [SESSION]",
	Action: func(c *cli.Context) error {
		e, rec, err := sessionArg(c, "url")
		if err != nil {
			return err
		}
		url, err := e.manager.JupyterURL(rec)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(c, urlOutput{SessionID: rec.ID, JupyterURL: url})
		}
		fmt.Fprintln(c.App.Writer, url)
		return nil
	},
}

// urlOutput is `sena url --json` (docs/schemas/url.schema.json).
type urlOutput struct {
	SessionID  string `json:"session_id"`
	JupyterURL string `json:"jupyter_url"`
}

// sessionArg reads the one optional SESSION argument of cmd: an id, a
// unique prefix, or none when exactly one session runs.
func sessionArg(c *cli.Context, cmd string) (*env, *session.Record, error) {
	if c.NArg() > 1 {
		return nil, nil, usageErr("%s wants one SESSION, got %d arguments (see sena %s --help)", cmd, c.NArg(), cmd)
	}
	e, err := newEnv(c)
	if err != nil {
		return nil, nil, err
	}
	var id string
	if c.NArg() == 1 {
		id, err = e.manager.Resolve(c.Args().First())
	} else {
		id, err = e.manager.OnlySession()
	}
	if err != nil {
		return nil, nil, err
	}
	rec, err := e.manager.Store().Get(id)
	return e, rec, err
}
