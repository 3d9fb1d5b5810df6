package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/sena-labs/sena/core"
)

// gpuLockDir holds the GPU allocation locks, one per engine. It is shared by
// every user of the host, as the GPUs are; tests point it elsewhere.
var gpuLockDir = os.TempDir()

// lockGPUs takes the host-wide lock on the engine's GPUs, waiting until it
// is free or ctx ends. Sessions started from this host by any user queue on
// it from the moment they read which GPUs are held until their container
// (with its sena.gpus label) exists. Sessions started from other hosts
// against the same engine are caught by the check after create
// (conflictingHolder).
func (p *Provider) lockGPUs(ctx context.Context) (func(), error) {
	h := sha256.Sum256([]byte(p.docker.DaemonHost()))
	path := filepath.Join(gpuLockDir, "sena-docker-gpus-"+hex.EncodeToString(h[:6])+".lock")
	// Open without O_CREATE first: in a sticky /tmp, protected_regular
	// refuses O_CREATE on another user's file even when it exists.
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
		if err == nil {
			_ = f.Chmod(0o644) // flock needs only read access
		}
	}
	if err != nil {
		return nil, fmt.Errorf("GPU allocation lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("GPU allocation lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another sena choosing GPUs (lock %s): %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// gpuHolders lists the sandboxes that hold GPUs: those with a sena.gpus
// label that have not exited. A created container that is not yet started
// holds its GPUs: its `up` is under way.
func (p *Provider) gpuHolders(ctx context.Context) ([]holder, error) {
	ctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	cs, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelGPUs))})
	if err != nil {
		return nil, p.wrap("list the containers holding GPUs", err)
	}
	var out []holder
	for _, c := range cs {
		if c.State == container.StateExited || c.State == container.StateDead {
			continue
		}
		session := c.Labels[core.LabelSession]
		if session == "" {
			session = "container " + strings.TrimPrefix(firstName(c.Names), "/")
		}
		out = append(out, holder{Session: session, ID: c.ID, Created: c.Created, UUIDs: splitList(c.Labels[LabelGPUs])})
	}
	return out, nil
}

// conflictingHolder returns a holder other than id that holds one of uuids
// and was created first (by time, then id), so that of two sandboxes that
// took the same GPU from different hosts exactly one gives way.
func conflictingHolder(holders []holder, id string, uuids []string) *holder {
	var me *holder
	for i := range holders {
		if holders[i].ID == id {
			me = &holders[i]
		}
	}
	if me == nil {
		return nil
	}
	for i := range holders {
		h := &holders[i]
		if h.ID == id || !slices.ContainsFunc(h.UUIDs, func(u string) bool { return slices.Contains(uuids, u) }) {
			continue
		}
		if h.Created < me.Created || (h.Created == me.Created && h.ID < me.ID) {
			return h
		}
	}
	return nil
}

// allocateGPUs chooses GPUs for r among devices and creates the container with them
// (create gets their UUIDs and returns the container's id), under the lock,
// then checks no other host took the same ones meanwhile.
func (p *Provider) allocateGPUs(ctx context.Context, devices []gpuDevice, r gpuRequest, create func(uuids []string) (string, error)) (string, []gpuDevice, error) {
	for attempt := 0; ; attempt++ {
		id, picked, err := p.pickAndCreate(ctx, devices, r, create)
		if err != nil {
			return "", nil, err
		}
		holders, err := p.gpuHolders(ctx)
		if err != nil {
			return id, nil, err // the caller removes id
		}
		h := conflictingHolder(holders, id, uuidsOf(picked))
		if h == nil {
			return id, picked, nil
		}
		p.log.WarnContext(ctx, "another sandbox took the same GPUs at the same time; choosing again", "other", h.Session)
		rctx, cancel := p.call(context.WithoutCancel(ctx), timeoutStop)
		rmErr := p.remove(rctx, id)
		cancel()
		if rmErr != nil || attempt == 2 {
			return "", nil, errors.Join(core.Errorf(core.ErrUnavailable, "GPUs %s were taken by session %s at the same time; run `sena up` again", strings.Join(uuidsOf(picked), ","), h.Session), rmErr)
		}
	}
}

func (p *Provider) pickAndCreate(ctx context.Context, devices []gpuDevice, r gpuRequest, create func([]string) (string, error)) (string, []gpuDevice, error) {
	unlock, err := p.lockGPUs(ctx)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	holders, err := p.gpuHolders(ctx)
	if err != nil {
		return "", nil, err
	}
	picked, err := pickGPUs(devices, holders, r)
	if err != nil {
		return "", nil, err
	}
	id, err := create(uuidsOf(picked))
	return id, picked, err
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
