package local

import (
	"encoding/json"
	"fmt"

	"github.com/sena-labs/sena/core"
)

// state is what the Handle carries: enough for any later process to find,
// check and stop the server. Never a secret.
type state struct {
	PID       int    `json:"pid"`        // leader of the server's process group
	StartTime uint64 `json:"start_time"` // /proc/PID/stat field 22, clock ticks after boot
	Port      int    `json:"port"`
	WorkDir   string `json:"work_dir"`
}

// stateVersion is the format of state in handles; handles from before
// versions (0) have the same fields.
const stateVersion = 1

func (s state) handle(id string) core.Handle {
	b, _ := json.Marshal(s) // plain struct: cannot fail
	return core.Handle{Provider: Name, ID: id, Version: stateVersion, State: b}
}

func (s state) endpoint() core.Endpoint {
	return core.Endpoint{URL: fmt.Sprintf("http://127.0.0.1:%d/", s.Port), WorkDir: s.WorkDir}
}

func (s state) proc() proc { return proc{s.PID, s.StartTime} }

// decodeState reads a Handle made by this provider.
func decodeState(h core.Handle) (state, error) {
	if h.Provider != Name {
		return state{}, core.Errorf(core.ErrInvalidConfig, "handle %q belongs to provider %q, not %q", h.ID, h.Provider, Name)
	}
	if h.Version > stateVersion {
		return state{}, core.Errorf(core.ErrInvalidConfig, "handle %q has format %d, newer than this local provider reads (%d): use the sena that started it", h.ID, h.Version, stateVersion)
	}
	var s state
	if err := json.Unmarshal(h.State, &s); err != nil || s.PID <= 0 || s.Port <= 0 {
		return state{}, core.Errorf(core.ErrInvalidConfig, "handle %q: state is not a local sandbox's (%s)", h.ID, h.State)
	}
	return s, nil
}
