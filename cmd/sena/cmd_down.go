package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"
)

var downCommand = &cli.Command{
	Name:      "down",
	Usage:     "stop sessions: their sandbox, kernel and server; the notebook mirror stays",
	UsageText: "sena down SESSION_ID... | sena down --all",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Usage: "stop every session, and every sandbox of this state dir that no session owns"},
	},
	Action: func(c *cli.Context) error {
		ids := c.Args().Slice()
		if c.Bool("all") == (len(ids) > 0) {
			return usageErr("down wants session ids or --all")
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		if c.Bool("all") {
			recs, err := e.manager.Store().List()
			if err != nil {
				return err
			}
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			removed, errs := e.manager.GC(c.Context, listProviders(c, e))
			warn(c, errs)
			for _, r := range removed {
				fmt.Fprintf(c.App.Writer, "removed orphan sandbox %s (%s)\n", r.ID, r.Provider)
			}
		}
		var errs []error
		for _, id := range ids {
			if err := e.manager.Down(c.Context, id); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(c.App.Writer, "stopped %s (notebook kept at %s)\n", id, e.manager.Store().NotebookPath(id))
		}
		return errors.Join(errs...)
	},
}
