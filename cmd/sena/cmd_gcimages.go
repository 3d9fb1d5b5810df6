package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/humanize"
	"github.com/sena-labs/sena/providers/docker"
	"github.com/urfave/cli/v2"
)

// imageMinAge spares images built in the last minutes: a concurrent `up`
// may have built one and not yet created its container.
const imageMinAge = 10 * time.Minute

// gcImages is `sena gc --images`: the docker provider's derived images.
func gcImages(c *cli.Context, e *env) error {
	prov, release, err := e.registry.Open(c.Context, docker.Name, nil)
	if err != nil {
		return err
	}
	defer release()
	dp, ok := prov.(*docker.Provider)
	if !ok {
		return core.Errorf(core.ErrUnsupported, "gc --images works with the built-in docker provider")
	}
	rep, err := dp.PruneImages(c.Context, c.Bool("dry-run"), imageMinAge)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(c, rep)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tSIZE\tAGE\tSTATE\tPACKAGES")
	for _, im := range rep.Images {
		state := "unused"
		switch {
		case im.Removed:
			state = "removed"
		case len(im.InUse) > 0:
			state = "in use by " + strings.Join(im.InUse, ",")
		case !c.Bool("dry-run"):
			state = "kept (built in the last " + imageMinAge.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", im.Ref, humanize.Bytes(im.Size), humanize.Age(time.Since(im.Created)), state, strings.ReplaceAll(im.Packages, "\n", "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Bool("dry-run") {
		fmt.Fprintf(c.App.Writer, "%d derived images; %s in images no container uses (`sena gc --images` removes them)\n", len(rep.Images), humanize.Bytes(rep.Reclaimable))
	} else {
		fmt.Fprintf(c.App.Writer, "removed %s of derived images (layers shared with kept images stay)\n", humanize.Bytes(rep.Removed))
	}
	return nil
}
