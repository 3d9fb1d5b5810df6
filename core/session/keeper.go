package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sena-labs/sena/core"
)

// keeperTick is how often a keeper looks at its pool without being woken.
const keeperTick = time.Second

// keeperInspectEvery is how often a keeper asks the provider whether its
// warm sandboxes still run (one may have died on its own).
const keeperInspectEvery = 5 * time.Second

// Keep keeps pool id filled until it ends: its lifetime or idle TTL runs
// out (then its sandboxes are stopped and its record removed), StopPool
// removes its record, or ctx is cancelled (SIGTERM: a sandbox being made
// is torn down; the warm ones stay, visible, until their lifetime, for
// StopPool or gc). It makes sandboxes as Up does, with this process as
// their maker, and wakes early on wake (a session took one). It records
// itself as the pool's keeper and returns at once if another live
// keeper holds the pool.
func (m *Manager) Keep(ctx context.Context, id string, wake <-chan struct{}) error {
	me := upOwner()
	err := m.store.withPool(ctx, id, func(p *Pool) (*Pool, error) {
		switch {
		case p == nil:
			return nil, core.Errorf(core.ErrNotFound, "no pool %s", id)
		case p.Keeper != "" && p.Keeper != me && p.KeeperAlive():
			return nil, fmt.Errorf("pool %s already has a keeper (pid %d)", id, p.KeeperPID())
		}
		p.Keeper = me
		return p, nil
	})
	if err != nil {
		return err
	}
	m.log.Info("keeping pool", "pool", id)
	defer m.store.withPool(context.Background(), id, func(p *Pool) (*Pool, error) {
		if p == nil || p.Keeper != me {
			return nil, nil
		}
		p.Keeper = "" // this process may go on (a library user's), but keeps no more
		return p, nil
	})
	type result struct {
		id  string
		err error
	}
	done := make(chan result, 64)
	filling := 0
	var nextFill, lastInspect time.Time
	strikes := map[string]int{}
	backoff := time.Second
	wait := func() {
		for ; filling > 0; filling-- {
			<-done
		}
	}
	for {
		p, err := m.store.GetPool(id)
		if errors.Is(err, core.ErrNotFound) {
			wait()
			m.log.Info("pool stopped", "pool", id)
			return nil
		}
		if err != nil {
			return err
		}
		if p.Keeper != me {
			wait()
			return fmt.Errorf("pool %s was taken over by another keeper", id)
		}
		now := time.Now()
		if why := p.ended(now); why != "" {
			wait()
			m.log.Info("pool ends", "pool", id, "why", why)
			return m.retire(context.WithoutCancel(ctx), p)
		}
		ps, err := m.poolStatus(p)
		if err != nil {
			return err
		}
		if now.Sub(lastInspect) >= keeperInspectEvery {
			lastInspect = now
			m.dropDead(ctx, ps.Warm, strikes)
		}
		have := len(ps.Warm) + filling
		for ; have > p.Count && len(ps.Warm) > 0; have-- { // the count was lowered
			last := ps.Warm[len(ps.Warm)-1]
			ps.Warm = ps.Warm[:len(ps.Warm)-1]
			if release, ok := m.store.claim(last); ok {
				_ = m.Down(ctx, last)
				release()
			}
		}
		for ; have < p.Count && !now.Before(nextFill) && time.Until(p.ExpiresAt) > minFillLifetime; have++ {
			filling++
			go func() {
				rec, err := m.fill(ctx, p)
				r := result{err: err}
				if rec != nil {
					r.id = rec.ID
				}
				done <- r
			}()
		}
		select {
		case <-ctx.Done():
			wait()
			return ctx.Err()
		case <-wake:
		case <-time.After(keeperTick):
		case r := <-done:
			filling--
			if r.err != nil {
				m.log.Warn("fill failed", "pool", id, "err", r.err)
				nextFill = time.Now().Add(backoff)
				backoff = min(2*backoff, time.Minute)
			} else {
				m.log.Info("warm sandbox ready", "pool", id, "session", r.id)
				backoff = time.Second
			}
			m.noteFill(ctx, id, r.err)
		}
	}
}

// ended says why a pool is over at now, "" while it is not.
func (p *Pool) ended(now time.Time) string {
	if !now.Before(p.ExpiresAt) {
		return "its lifetime ended"
	}
	if p.IdleTimeout > 0 {
		since := p.CreatedAt
		if p.LastTaken.After(since) {
			since = p.LastTaken
		}
		if now.Sub(since) >= p.IdleTimeout.Std() {
			return fmt.Sprintf("no session took a sandbox for %s", p.IdleTimeout.Std())
		}
	}
	return ""
}

// retire ends a pool whose time is up: its sandboxes that no session took,
// then its record.
func (m *Manager) retire(ctx context.Context, p *Pool) error {
	_, err := m.stopMembers(ctx, p.ID, "")
	if derr := m.store.DeletePool(p.ID); derr != nil {
		err = errors.Join(err, derr)
	}
	return err
}

func (m *Manager) poolStatus(p *Pool) (PoolStatus, error) {
	all, err := m.Pools()
	if err != nil {
		return PoolStatus{}, err
	}
	for _, ps := range all {
		if ps.ID == p.ID {
			return ps, nil
		}
	}
	return PoolStatus{Pool: p}, nil
}

// dropDead removes warm sandboxes that stopped on their own (a crash, or
// their provider's rules), so they are made again. A sandbox must be seen
// stopped twice in a row (strikes, kept by the caller): a server that is
// only slow to answer on a loaded host is reported stopped once, and
// dropping it would throw a healthy warm sandbox (and its GPU warm-up) away.
func (m *Manager) dropDead(ctx context.Context, ids []string, strikes map[string]int) {
	for id := range strikes {
		if !slices.Contains(ids, id) {
			delete(strikes, id)
		}
	}
	for _, id := range ids {
		rec, err := m.store.Get(id)
		if err != nil {
			continue
		}
		prov, release, err := m.providers.Open(ctx, rec.Provider, passEnvOf(&rec.Config))
		if err != nil {
			continue
		}
		st, err := inspect(ctx, prov, rec, nil)
		release()
		if err != nil || st.Status != core.StatusStopped {
			delete(strikes, id)
			continue
		}
		if strikes[id]++; strikes[id] < 2 {
			continue
		}
		if rel, ok := m.store.claim(id); ok {
			m.log.Info("warm sandbox stopped on its own", "session", id)
			_ = m.Down(ctx, id)
			rel()
		}
	}
}

// noteFill records how the last fill went, for `sena warm` and `sena ls`.
func (m *Manager) noteFill(ctx context.Context, id string, err error) {
	_ = m.store.withPool(context.WithoutCancel(ctx), id, func(p *Pool) (*Pool, error) {
		if p == nil {
			return nil, nil
		}
		if err == nil {
			p.Error, p.Failures = "", 0
		} else if !errors.Is(err, context.Canceled) {
			p.Error, p.Failures = err.Error(), p.Failures+1
		}
		return p, nil
	})
}

// fill makes one warm sandbox of pool p.
func (m *Manager) fill(ctx context.Context, p *Pool) (*Record, error) {
	cfg, err := copyConfig(&p.Config)
	if err != nil {
		return nil, err
	}
	left := time.Until(p.ExpiresAt).Truncate(time.Second)
	if left < minFillLifetime {
		return nil, nil
	}
	// The provider stops it at the pool's end, and after the idle TTL
	// without kernel activity: both hold with no sena running.
	cfg.Timeout, cfg.IdleTimeout = core.Duration(left), p.IdleTimeout
	u := &upRun{m: m, cfg: cfg, start: time.Now(), pool: p}
	return u.run(ctx)
}

// WaitPool waits until pool id has its count of warm sandboxes, calling
// progress (may be nil) when the numbers change. It fails when a fill
// fails (with the fill's error), the keeper dies, or the pool is stopped.
func (m *Manager) WaitPool(ctx context.Context, id string, progress func(PoolStatus)) (PoolStatus, error) {
	started := time.Now()
	last := ""
	for {
		p, err := m.store.GetPool(id)
		if err != nil {
			return PoolStatus{}, fmt.Errorf("pool %s was stopped while it filled: %w", id, err)
		}
		ps, err := m.poolStatus(p)
		if err != nil {
			return ps, err
		}
		if now := fmt.Sprint(len(ps.Warm), len(ps.Filling)); now != last && progress != nil {
			last = now
			progress(ps)
		}
		switch {
		case len(ps.Warm) >= p.Count && p.KeeperAlive(): // full, and kept (a new keeper has registered)
			return ps, nil
		case p.Error != "" && p.Failures > 0:
			return ps, fmt.Errorf("pool %s could not make a warm sandbox: %s", id, p.Error)
		case !p.KeeperAlive() && time.Since(started) > 10*time.Second:
			return ps, fmt.Errorf("the keeper of pool %s is not running (its log: %s)", id, m.store.PoolLog(id))
		}
		select {
		case <-ctx.Done():
			return ps, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
