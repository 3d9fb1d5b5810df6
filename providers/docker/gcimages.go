package docker

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/sena-labs/sena/core"
)

// DerivedImage is one image Sena built for a package set.
type DerivedImage struct {
	Ref      string    `json:"ref"`
	ID       string    `json:"id"`
	From     string    `json:"from"`     // the image it was built on
	Packages string    `json:"packages"` // its package set
	Size     int64     `json:"size"`     // bytes, the base's layers included
	Created  time.Time `json:"created"`
	// InUse names the containers (any, Sena's or not) that use it: such
	// images are kept.
	InUse   []string `json:"in_use,omitempty"`
	Removed bool     `json:"removed,omitempty"`
}

// ImageReport is what PruneImages found and did.
type ImageReport struct {
	Images []DerivedImage `json:"images"`
	// Reclaimable is the size of the images no container uses; Removed of
	// those removed (layers shared with kept images are not freed).
	Reclaimable int64 `json:"reclaimable"`
	Removed     int64 `json:"removed"`
}

// PruneImages removes the derived images (sena-derived:*, built for
// python_packages and system_packages) that no container uses and that are
// older than minAge (an `up` that just built one has not created its
// container yet); with dryRun it only reports them. Only images carrying
// Sena's derived-image labels are touched: not the default image, not
// images Sena did not build. `sena gc --images` calls it.
func (p *Provider) PruneImages(ctx context.Context, dryRun bool, minAge time.Duration) (*ImageReport, error) {
	return p.pruneImages(ctx, dryRun, minAge, nil)
}

// pruneImages is PruneImages limited to images with all of extra labels
// (tests prune only their own).
func (p *Provider) pruneImages(ctx context.Context, dryRun bool, minAge time.Duration, extra map[string]string) (*ImageReport, error) {
	// Both labels: the classic builder adds build labels one step at a
	// time (sorted), so only the final image of a derived build has
	// sena.managed as well, not its intermediate parents.
	f := filters.NewArgs(filters.Arg("label", labelDerivedFrom), filters.Arg("label", core.LabelManaged+"=true"))
	for k, v := range extra {
		f.Add("label", k+"="+v)
	}
	lctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	imgs, err := p.docker.ImageList(lctx, image.ListOptions{Filters: f})
	if err != nil {
		return nil, p.wrap("list images", err)
	}
	cs, err := p.docker.ContainerList(lctx, container.ListOptions{All: true})
	if err != nil {
		return nil, p.wrap("list containers", err)
	}
	users := map[string][]string{}
	for _, c := range cs {
		users[c.ImageID] = append(users[c.ImageID], strings.TrimPrefix(firstName(c.Names), "/"))
	}
	rep := &ImageReport{Images: []DerivedImage{}}
	for _, im := range imgs {
		ref := im.ID
		for _, t := range im.RepoTags {
			if strings.HasPrefix(t, derivedRepo+":") {
				ref = t
			}
		}
		d := DerivedImage{
			Ref: ref, ID: im.ID, From: im.Labels[labelDerivedFrom], Packages: im.Labels[labelDerivedPackages],
			Size: im.Size, Created: time.Unix(im.Created, 0), InUse: users[im.ID],
		}
		if len(d.InUse) == 0 {
			rep.Reclaimable += d.Size
		}
		if !dryRun && len(d.InUse) == 0 && time.Since(d.Created) >= minAge {
			// PruneChildren removes the untagged parents the build left, so
			// the layers unique to this image are freed too.
			rctx, rcancel := p.call(ctx, timeoutStop)
			_, err := p.docker.ImageRemove(rctx, ref, image.RemoveOptions{PruneChildren: true})
			rcancel()
			if err != nil {
				p.log.WarnContext(ctx, "cannot remove derived image", "image", ref, "err", err)
			} else {
				d.Removed = true
				rep.Removed += d.Size
			}
		}
		rep.Images = append(rep.Images, d)
	}
	slices.SortFunc(rep.Images, func(a, b DerivedImage) int { return b.Created.Compare(a.Created) })
	return rep, nil
}
