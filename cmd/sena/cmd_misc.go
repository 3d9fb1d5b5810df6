package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/skills"
	"github.com/urfave/cli/v2"
)

var notebookCommand = &cli.Command{
	Name:  "notebook",
	Usage: "write a session's .ipynb (also after the session is down)",
	UsageText: "sena notebook [SESSION] [-o FILE]\n\n" +
		"Without -o the notebook goes to stdout when stdout is not a terminal (and with --json),\n" +
		"else to SESSION.ipynb. SESSION is an id or a unique prefix of one; without it, the one\n" +
		"running session.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (- for stdout)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 1 {
			return usageErr("notebook wants one SESSION (see sena notebook --help)")
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		arg := c.Args().First()
		if arg == "" {
			if arg, err = e.manager.OnlySession(); err != nil {
				return fmt.Errorf("notebook without a session id: %w", err)
			}
		}
		src, err := e.manager.NotebookFile(arg)
		if err != nil {
			return err
		}
		id := strings.TrimSuffix(filepath.Base(src), ".ipynb")
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		out := c.String("output")
		if out == "" {
			out = id + ".ipynb"
			if e.json || !isTerminal(os.Stdout) {
				out = "-"
			}
		}
		if out == "-" {
			_, err = c.App.Writer.Write(data)
			return err
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
		if e.json {
			return writeJSON(c, notebookOutput{SessionID: id, Path: out})
		}
		fmt.Fprintln(c.App.ErrWriter, "sena: wrote", out)
		return nil
	},
}

// notebookOutput is `sena notebook -o FILE --json`
// (docs/schemas/notebook.schema.json); without -o, --json prints the
// notebook itself.
type notebookOutput struct {
	SessionID string `json:"session_id"`
	Path      string `json:"path"`
}

var providersCommand = &cli.Command{
	Name:  "providers",
	Usage: "list built-in and plugin providers with their capabilities",
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("providers takes no arguments, got %q (see sena providers --help)", c.Args().First())
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		all := e.registry.DescribeAll(c.Context)
		if e.json {
			return writeJSON(c, all)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tGPUS\tDETAIL")
		for _, d := range all {
			gpus, detail := "-", d.Error
			if d.Info != nil {
				if len(d.Info.Capabilities.GPUKinds) > 0 {
					gpus = strings.Join(d.Info.Capabilities.GPUKinds, ",")
				}
				detail = d.Info.Description
			}
			if d.Path != "" {
				detail = d.Path + "  " + detail
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Kind, gpus, detail)
			if d.Info != nil {
				fmt.Fprintf(tw, "\t\t\thonours: %s\n", honours(d.Info))
			}
		}
		return tw.Flush()
	},
}

// honours is what a provider declares, as `sena providers` shows it.
func honours(info *core.ProviderInfo) string {
	out := strings.Join(core.FieldNames(info.Capabilities.Fields), ", ")
	if out == "" {
		out = "nothing beyond env"
	}
	var opts struct {
		Properties map[string]any `json:"properties"`
	}
	if json.Unmarshal(info.Capabilities.OptionsSchema, &opts) == nil && len(opts.Properties) > 0 {
		out += "; options: " + strings.Join(slices.Sorted(maps.Keys(opts.Properties)), ", ")
	}
	return out
}

var skillsCommand = &cli.Command{
	Name:  "skills",
	Usage: "list the skills shipped with sena (mount one with `sena up --skill NAME`)",
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("skills takes no arguments, got %q (see sena skills --help)", c.Args().First())
		}
		out := []skillOutput{}
		entries, _ := fs.ReadDir(skills.FS, ".")
		for _, d := range entries {
			md, err := fs.ReadFile(skills.FS, d.Name()+"/SKILL.md")
			if err != nil {
				continue
			}
			if _, desc, err := session.ParseSkillFile(md); err == nil {
				out = append(out, skillOutput{d.Name(), desc})
			}
		}
		if c.Bool("json") {
			return writeJSON(c, out)
		}
		for _, s := range out {
			fmt.Fprintf(c.App.Writer, "%s\n    %s\n", s.Name, s.Description)
		}
		return nil
	},
}

// skillOutput is one entry of `sena skills --json` (docs/schemas/skills.schema.json).
type skillOutput struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}
