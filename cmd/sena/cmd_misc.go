package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/skills"
	"github.com/urfave/cli/v2"
)

var notebookCommand = &cli.Command{
	Name:      "notebook",
	Usage:     "write a session's .ipynb (also after the session is down)",
	UsageText: "sena notebook [-o FILE] SESSION_ID",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (- for stdout; default SESSION_ID.ipynb)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return usageErr("notebook wants one SESSION_ID")
		}
		id := c.Args().First()
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		src, err := e.manager.NotebookFile(id)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		out := c.String("output")
		switch out {
		case "-":
			_, err = c.App.Writer.Write(data)
			return err
		case "":
			out = id + ".ipynb"
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(c.App.ErrWriter, "sena: wrote", out)
		return nil
	},
}

var providersCommand = &cli.Command{
	Name:  "providers",
	Usage: "list built-in and plugin providers with their capabilities",
	Action: func(c *cli.Context) error {
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

var gcCommand = &cli.Command{
	Name:  "gc",
	Usage: "remove sandboxes of this state dir that no session owns (left by a sena killed during up); --images: the docker provider's package images no container uses",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "images", Usage: "remove the images the docker provider built for package sets (sena-derived:*) that no container uses, instead"},
		&cli.BoolFlag{Name: "dry-run", Usage: "with --images: list them with their sizes, remove nothing"},
	},
	Action: func(c *cli.Context) error {
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		if c.Bool("images") {
			return gcImages(c, e)
		}
		if c.Bool("dry-run") {
			return usageErr("--dry-run goes with --images")
		}
		removed, errs := e.manager.GC(c.Context, listProviders(c, e))
		unreachable := warn(c, errs)
		if e.json {
			ids := []string{}
			for _, r := range removed {
				ids = append(ids, r.ID)
			}
			if err := writeJSON(c, map[string][]string{"removed": ids}); err != nil {
				return err
			}
			return unreachable
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

var skillsCommand = &cli.Command{
	Name:  "skills",
	Usage: "list the skills shipped with sena (mount one with `sena up --skill NAME`)",
	Action: func(c *cli.Context) error {
		type skill struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		}
		var out []skill
		entries, _ := fs.ReadDir(skills.FS, ".")
		for _, d := range entries {
			md, err := fs.ReadFile(skills.FS, d.Name()+"/SKILL.md")
			if err != nil {
				continue
			}
			if _, desc, err := session.ParseSkillFile(md); err == nil {
				out = append(out, skill{d.Name(), desc})
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

func writeJSON(c *cli.Context, v any) error {
	return encodeJSON(c.App.Writer, v)
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
