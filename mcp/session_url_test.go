package mcp

import (
	"context"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// attach_to_session with the jupyter_url of a session Sena started attaches
// to that session (its kernel, its notebook), not to a new kernel on its
// server; start_session's result carries the environment manifest.
func TestAttachBySenaSessionURL(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	a := connect(t, New(m, Options{Provider: "local", Python: py}), nil)
	var started SessionInfo
	a.structured("start_session", map[string]any{}, &started)
	t.Cleanup(func() { _ = m.Down(context.Background(), started.SessionID) })
	if started.Environment == nil || started.Environment.Python.Version == "" || len(started.Environment.Packages) == 0 {
		t.Errorf("start_session's result lacks the environment manifest: %+v", started.Environment)
	}
	contains(t, text(a.exec(started.SessionID, "x = 41")), "[ok]")

	b := connect(t, New(m, Options{Provider: "local", Python: py}), nil)
	var attached SessionInfo
	b.structured("attach_to_session", map[string]any{"jupyter_url": started.JupyterURL}, &attached)
	if attached.SessionID != started.SessionID || attached.Provider != "local" {
		t.Fatalf("attach by the session's URL gave %+v, want session %s", attached, started.SessionID)
	}
	contains(t, text(b.exec(attached.SessionID, "print(x + 1)")), "42") // the same kernel
	if attached.Cells < 1 {
		t.Errorf("attached to a notebook with %d cells; the session's has the first cell", attached.Cells)
	}
}

// An agent's open kernel connection does not keep an idle session alive
// past its idle timeout.
func TestIdleSessionStopsWithAgentAttached(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	c := connect(t, New(m, Options{Provider: "local", Python: py}), nil)
	var info SessionInfo
	c.structured("start_session", map[string]any{"idle_timeout": "8s"}, &info)
	t.Cleanup(func() { _ = m.Down(context.Background(), info.SessionID) })
	contains(t, text(c.exec(info.SessionID, "print('working')")), "working") // the server now holds a kernel connection
	deadline := time.Now().Add(90 * time.Second)
	for {
		var l SessionList
		c.structured("list_sessions", map[string]any{}, &l)
		if len(l.Sessions) == 1 && l.Sessions[0].Status == "stopped" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session still runs 90 s after its 8 s idle timeout with an agent attached: %+v", l.Sessions)
		}
		time.Sleep(2 * time.Second)
	}
}
