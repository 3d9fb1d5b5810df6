package main

import (
	"fmt"
	"os"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub"
	"github.com/urfave/cli/v2"
)

// newModelFetcher is Sena's Hub client with progress on stderr (JSON
// lines with --json).
func newModelFetcher(jsonProgress bool) *hub.Client {
	return hub.NewClient(&hub.Options{Progress: hub.ProgressPrinter(os.Stderr, jsonProgress)})
}

var pullCommand = &cli.Command{
	Name:      "pull",
	Usage:     "download models into the Hugging Face cache ahead of `up` (a cached model costs no network)",
	UsageText: "sena pull ORG/NAME[@REVISION]...",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "refresh", Usage: "ask the Hub which commit the revision points at now, even if cached"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return usageErr("pull wants at least one model, as in google/gemma-2-9b-it")
		}
		f := newModelFetcher(c.Bool("json"))
		type pulled struct {
			Name       string `json:"name"`
			Commit     string `json:"commit"`
			Path       string `json:"path"`
			EnvVar     string `json:"env_var"`
			Downloaded int64  `json:"bytes_downloaded"`
		}
		var out []pulled
		for _, arg := range c.Args().Slice() {
			m, err := core.ParseModel(arg)
			if err != nil {
				return err
			}
			s, err := f.Download(c.Context, m.Name, m.Revision, &hub.DownloadOptions{Refresh: c.Bool("refresh")})
			if err != nil {
				return err
			}
			out = append(out, pulled{m.Name, s.Commit, s.Path, core.ModelEnvVar(m.Name), s.BytesDownloaded})
		}
		if c.Bool("json") {
			return writeJSON(c, out)
		}
		for _, p := range out {
			fmt.Fprintf(c.App.Writer, "%s@%s  %s  (%d bytes downloaded)\n", p.Name, p.Commit[:min(12, len(p.Commit))], p.Path, p.Downloaded)
		}
		return nil
	},
}
