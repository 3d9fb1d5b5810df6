package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

var snapshotCommand = &cli.Command{
	Name:      "snapshot",
	Usage:     "save a session's work dir (files, package environment, libraries, repos) and notebook, to start from later with up --from-snapshot",
	UsageText: "sena snapshot [SESSION] [--name NAME]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "the snapshot's name (default SESSION-TIME); a name taken already is refused"},
	},
	Action: func(c *cli.Context) error {
		e, rec, err := sessionArg(c, "snapshot")
		if err != nil {
			return err
		}
		sn, err := e.manager.Snapshot(c.Context, rec.ID, c.String("name"))
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(c, sn)
		}
		fmt.Fprintf(c.App.Writer, "snapshot %s of %s (%s, %.1f MiB)\nstart from it: sena up --provider %s --from-snapshot %s\n",
			sn.Name, sn.Session, sn.Provider, float64(sn.Bytes)/(1<<20), sn.Provider, sn.Name)
		return nil
	},
}

var snapshotsCommand = &cli.Command{
	Name:      "snapshots",
	Usage:     "list the saved snapshots (they are files under the state dir), or delete one",
	UsageText: "sena snapshots [--delete NAME]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "delete", Usage: "delete snapshot `NAME`"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("snapshots takes no arguments, got %q", c.Args().First())
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		if name := c.String("delete"); name != "" {
			if err := e.manager.Store().DeleteSnapshot(name); err != nil {
				return err
			}
			if !e.json {
				fmt.Fprintf(c.App.Writer, "deleted snapshot %s\n", name)
				return nil
			}
		}
		all, err := e.manager.Store().Snapshots()
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(c, nonNil(all))
		}
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tSESSION\tPROVIDER\tSIZE\tCREATED")
		for _, sn := range all {
			fmt.Fprintf(w, "%s\t%s\t%s\t%.1f MiB\t%s\n", sn.Name, sn.Session, sn.Provider, float64(sn.Bytes)/(1<<20), sn.CreatedAt.Local().Format(time.DateTime))
		}
		return w.Flush()
	},
}
