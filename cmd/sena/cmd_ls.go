package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/urfave/cli/v2"
)

var lsCommand = &cli.Command{
	Name:  "ls",
	Usage: "list sessions with their live status, and any sandbox of this state dir that no session owns",
	Action: func(c *cli.Context) error {
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		all, errs := e.manager.List(c.Context, listProviders(c, e))
		unreachable := warn(c, errs)
		rows := make([]lsRow, 0, len(all))
		for _, s := range all {
			rows = append(rows, e.lsRow(s))
		}
		if e.json {
			if err := writeJSON(c, rows); err != nil {
				return err
			}
			return unreachable
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tSTATUS\tMODE\tGPUS\tAGE\tJUPYTER")
		for _, r := range rows {
			age := "-"
			if !r.CreatedAt.IsZero() {
				age = time.Since(r.CreatedAt).Round(time.Second).String()
			}
			status := string(r.Status)
			if r.StopReason != "" {
				status += " (" + r.StopReason + ")"
			}
			gpus := "-"
			if len(r.GPUs) > 0 {
				gpus = strings.Join(r.GPUs, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Provider, status, r.Mode, gpus, age, r.JupyterURL)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return unreachable
	},
}

type lsRow struct {
	ID           string      `json:"id"`
	Provider     string      `json:"provider"`
	Status       core.Status `json:"status"`
	Mode         core.Mode   `json:"mode,omitempty"`
	JupyterURL   string      `json:"jupyter_url,omitempty"`
	NotebookPath string      `json:"notebook_path,omitempty"`
	CreatedAt    time.Time   `json:"created_at,omitzero"`
	Orphan       bool        `json:"orphan,omitempty"`
	GPUs         []string    `json:"gpus,omitempty"`
	StopReason   string      `json:"stop_reason,omitempty"`
}

func (e *env) lsRow(s session.SessionStatus) lsRow {
	r := lsRow{ID: s.ID, Provider: s.Provider, Status: s.Status, Mode: s.Mode, CreatedAt: s.CreatedAt, Orphan: s.Orphan, GPUs: s.GPUs, StopReason: s.StopReason}
	if s.Orphan {
		r.Status = "orphan:" + s.Status // `sena gc` removes it
		return r
	}
	switch {
	case s.Abandoned():
		r.Status = "abandoned" // its up died or failed unconfirmed; `sena gc` removes it
	case s.State == session.StateStarting:
		r.Status = "starting"
	}
	r.JupyterURL, _ = e.manager.JupyterURL(s.Record)
	r.NotebookPath = e.manager.Store().NotebookPath(s.ID)
	return r
}

// listProviders are the backends searched for sandboxes: the one named
// with --provider, or every built-in one (unreachable ones are skipped).
func listProviders(c *cli.Context, e *env) []string {
	if c.IsSet("provider") {
		return []string{c.String("provider")}
	}
	var names []string
	for n := range e.registry.Builtin {
		names = append(names, n)
	}
	return names
}

// warn prints the errors of listing providers. A provider that cannot be
// reached is skipped (a backend that is not set up has no sandboxes of
// ours) unless sessions are recorded on it or --provider named it: then
// the command must fail, and warn returns the error saying why.
func warn(c *cli.Context, errs []error) error {
	var fatal []error
	for _, err := range errs {
		var ur *session.UnreachableError
		switch {
		case errors.As(err, &ur), c.IsSet("provider") && errors.Is(err, core.ErrUnavailable):
			fatal = append(fatal, err)
		case errors.Is(err, core.ErrUnavailable):
		default:
			fmt.Fprintln(c.App.ErrWriter, "sena: warning:", err)
		}
	}
	return errors.Join(fatal...)
}
