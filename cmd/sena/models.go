package main

import (
	"fmt"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub"
	"github.com/urfave/cli/v2"
)

var pullCommand = &cli.Command{
	Name:  "pull",
	Usage: "download models into the Hugging Face cache ahead of `up` (a cached model costs no network)",
	UsageText: "sena pull ORG/NAME[@REVISION]...\n\n" +
		"The cache is huggingface_hub's (HF_HUB_CACHE, HF_HOME): transformers and huggingface_hub\n" +
		"load what Sena downloads offline, and Sena reuses what they downloaded. Of a repo with\n" +
		"safetensors weights, only those are fetched, not its .bin copies.",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "refresh", Usage: "ask the Hub which commit the revision points at now, even if cached"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return usageErr("pull wants at least one model, as in google/gemma-2-9b-it (see sena pull --help)")
		}
		var models []core.ModelConfig
		for _, arg := range c.Args().Slice() {
			m, err := core.ParseModel(arg)
			if err != nil {
				return usageErr("%v", err)
			}
			models = append(models, m)
		}
		f := hub.NewClient(nil)
		progress := startProgress(c)
		out := []pullOutput{}
		for _, m := range models {
			s, err := f.Download(c.Context, m.Name, m.Revision, &hub.DownloadOptions{Refresh: c.Bool("refresh"), Progress: progress})
			if err != nil {
				return err
			}
			rev := m.Revision
			if rev == "" {
				rev = "main"
			}
			out = append(out, pullOutput{Name: m.Name, Revision: rev, Commit: s.Commit, Path: s.Path, EnvVar: core.ModelEnvVar(m.Name), Downloaded: s.BytesDownloaded})
		}
		if c.Bool("json") {
			return writeJSON(c, out)
		}
		for _, p := range out {
			fmt.Fprintf(c.App.Writer, "%s@%s  %s\n", p.Name, p.Commit[:min(12, len(p.Commit))], p.Path)
		}
		return nil
	},
}

// pullOutput is one entry of `sena pull --json` (docs/schemas/pull.schema.json).
type pullOutput struct {
	Name       string `json:"name"`
	Revision   string `json:"revision"`
	Commit     string `json:"commit"`
	Path       string `json:"path"`
	EnvVar     string `json:"env_var"`
	Downloaded int64  `json:"bytes_downloaded"`
}
