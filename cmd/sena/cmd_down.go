package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
)

var downCommand = &cli.Command{
	Name:  "down",
	Usage: "stop sessions: their sandbox, kernel and server; the notebook mirror stays",
	UsageText: "sena down SESSION...\n" +
		"sena down --all\n\n" +
		"SESSION is an id or a unique prefix of one.",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Usage: "stop every session, every warm pool (its keeper and warm sandboxes), and every sandbox of this state dir that no session owns"},
	},
	Action: func(c *cli.Context) error {
		ids := c.Args().Slice()
		if c.Bool("all") == (len(ids) > 0) {
			return usageErr("down wants session ids or --all (see sena down --help)")
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		out := downOutput{Stopped: []stoppedSession{}, Removed: []removedSandbox{}, Pools: []stoppedPool{}}
		if c.Bool("all") {
			// Keepers first, so none makes a sandbox while the rest stop.
			pools, err := e.manager.Pools()
			if err != nil {
				return err
			}
			for _, p := range pools {
				ids, err := e.manager.StopPool(c.Context, p.ID)
				if err != nil {
					warn(c, []error{err})
				}
				out.Pools = append(out.Pools, stoppedPool{PoolID: p.ID, Sandboxes: nonNil(ids)})
				if !e.json {
					fmt.Fprintf(c.App.Writer, "stopped warm pool %s and %d warm sandbox(es)\n", p.ID, len(ids))
				}
			}
			// Then gc (orphans and abandoned sessions), then every record
			// still there: gc may have removed some.
			removed, errs := e.manager.GC(c.Context, listProviders(c, e))
			warn(c, errs)
			for _, r := range removed {
				out.Removed = append(out.Removed, removedSandbox{ID: r.ID, Provider: r.Provider})
				if !e.json {
					fmt.Fprintf(c.App.Writer, "removed orphan sandbox %s (%s)\n", r.ID, r.Provider)
				}
			}
			recs, err := e.manager.Store().List()
			if err != nil {
				return err
			}
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
		}
		var errs []error
		for _, arg := range ids {
			id, err := e.manager.Resolve(arg)
			if err == nil {
				err = e.manager.Down(c.Context, id)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			nb := e.manager.Store().NotebookPath(id)
			out.Stopped = append(out.Stopped, stoppedSession{SessionID: id, NotebookPath: nb})
			if !e.json {
				fmt.Fprintf(c.App.Writer, "stopped %s (notebook kept at %s)\n", id, nb)
			}
		}
		if e.json {
			if err := writeJSON(c, out); err != nil {
				return err
			}
		}
		return errors.Join(errs...)
	},
}

// downOutput is `sena down --json` (docs/schemas/down.schema.json).
type downOutput struct {
	Stopped []stoppedSession `json:"stopped"`
	// Removed are sandboxes no session owned (with --all).
	Removed []removedSandbox `json:"removed"`
	// Pools are the warm pools stopped (with --all), with their sandboxes.
	Pools []stoppedPool `json:"pools"`
}

type stoppedPool struct {
	PoolID    string   `json:"pool_id"`
	Sandboxes []string `json:"sandboxes"`
}

type stoppedSession struct {
	SessionID    string `json:"session_id"`
	NotebookPath string `json:"notebook_path"`
}

type removedSandbox struct {
	ID       string `json:"session_id"`
	Provider string `json:"provider"`
}

var gcCommand = &cli.Command{
	Name:  "gc",
	Usage: "remove sandboxes of this state dir that no session owns (left by a sena killed during up); with --images, the docker provider's package images no container uses",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "images", Usage: "instead, remove the images the docker provider built for package sets (sena-derived:*) that no container uses"},
		&cli.BoolFlag{Name: "dry-run", Usage: "with --images: list them with their sizes, remove nothing"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("gc takes no arguments, got %q (see sena gc --help)", c.Args().First())
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		if c.Bool("images") {
			return gcImages(c, e)
		}
		if c.Bool("dry-run") {
			return usageErr("--dry-run goes with --images (see sena gc --help)")
		}
		removed, errs := e.manager.GC(c.Context, listProviders(c, e))
		unreachable := warn(c, errs)
		out := gcOutput{Removed: []removedSandbox{}}
		for _, r := range removed {
			out.Removed = append(out.Removed, removedSandbox{ID: r.ID, Provider: r.Provider})
		}
		if e.json {
			return errors.Join(writeJSON(c, out), unreachable)
		}
		for _, r := range removed {
			fmt.Fprintf(c.App.Writer, "removed %s (%s)\n", r.ID, r.Provider)
		}
		if len(removed) == 0 && unreachable == nil {
			fmt.Fprintln(c.App.Writer, "nothing to remove")
		}
		return unreachable
	},
}

// gcOutput is `sena gc --json` (docs/schemas/gc.schema.json).
type gcOutput struct {
	Removed []removedSandbox `json:"removed"`
}
