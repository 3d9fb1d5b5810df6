package slurm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sena-labs/sena/core"
)

// handleVersion is the format of jobState; a newer one is refused.
const handleVersion = 1

// jobState is a handle's State: everything Inspect and Destroy need, in
// another process days later. No secrets: the token stays in the job's
// directory, readable by the user only.
type jobState struct {
	JobID string `json:"job_id"`
	Dir   string `json:"dir"` // the job's directory on the shared filesystem
	// Where Jupyter listens, once Create saw it: the node's name, the
	// address this host dials, and the port on the node.
	Node string `json:"node,omitempty"`
	Addr string `json:"addr,omitempty"`
	Port int    `json:"port,omitempty"`
	// Login is the SSH login host tunnelled through ("user@host:port"),
	// KnownHosts the file that vouches for it; LocalPort is the tunnel's
	// end on this host. All empty without a login host.
	Login      string `json:"login,omitempty"`
	KnownHosts string `json:"known_hosts,omitempty"`
	LocalPort  int    `json:"local_port,omitempty"`
}

func newHandle(session string, s jobState) core.Handle {
	data, _ := json.Marshal(s)
	return core.Handle{Provider: Name, ID: session, Version: handleVersion, State: data}
}

func readHandle(h core.Handle) (*jobState, error) {
	if h.Version > handleVersion {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: sandbox %s was started by a newer sena-provider-slurm (handle format %d, this one reads up to %d): use that one", h.ID, h.Version, handleVersion)
	}
	var s jobState
	if err := json.Unmarshal(h.State, &s); err != nil || s.JobID == "" || s.Dir == "" {
		return nil, core.Errorf(core.ErrNotFound, "slurm: sandbox %s has no job in its handle", h.ID)
	}
	return &s, nil
}

func (s *jobState) endpoint() core.Endpoint {
	if s.Port == 0 {
		return core.Endpoint{WorkDir: filepath.Join(s.Dir, workDir)}
	}
	host := s.Addr
	port := s.Port
	if s.LocalPort != 0 {
		host, port = "127.0.0.1", s.LocalPort
	}
	if strings.Contains(host, ":") { // IPv6
		host = "[" + host + "]"
	}
	return core.Endpoint{URL: fmt.Sprintf("http://%s:%d/", host, port), WorkDir: filepath.Join(s.Dir, workDir)}
}

// status maps a job's state to a sandbox's, with the reason a user acts
// on. dir is the job's directory, whose ended file says why Jupyter
// stopped when SLURM saw the job end normally.
func status(j *job, dir string) (core.Status, string) {
	switch j.State {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD":
		return core.StatusQueued, pendingReason(j.Reason)
	case "CONFIGURING":
		return core.StatusQueued, "its nodes are booting"
	case "RUNNING", "SIGNALING", "STAGE_OUT", "RESIZING":
		return core.StatusRunning, ""
	case "SUSPENDED", "STOPPED":
		return core.StatusStopped, "suspended by SLURM (it may resume)"
	case "TIMEOUT":
		return core.StatusStopped, "SLURM's time limit reached"
	case "CANCELLED":
		return core.StatusStopped, "job cancelled (scancel)"
	case "PREEMPTED":
		return core.StatusStopped, "preempted by another job"
	case "NODE_FAIL":
		return core.StatusStopped, "its node failed"
	case "BOOT_FAIL":
		return core.StatusStopped, "its node failed to boot"
	case "OUT_OF_MEMORY":
		return core.StatusStopped, "out of memory (the job's --mem)"
	case "DEADLINE":
		return core.StatusStopped, "its deadline passed"
	case "COMPLETING": // why is known once it has ended
		return core.StatusStopped, endingReason
	case "COMPLETED", "FAILED":
		if why := ended(dir); why != "" {
			return core.StatusStopped, why
		}
		if j.State == "FAILED" {
			return core.StatusStopped, "the job failed (" + filepath.Join(dir, logFile) + " says why)"
		}
		return core.StatusStopped, "the job ended"
	}
	return core.StatusUnknown, strings.ToLower(j.State)
}

// endingReason is the reason while SLURM stops a job's processes.
const endingReason = "ending: SLURM is stopping the job"

// ended reads why Jupyter stopped, as the job wrote it.
func ended(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, endedFile))
	if err != nil {
		return ""
	}
	switch why := strings.TrimSpace(string(data)); {
	case why == "timeout":
		return "its timeout was reached"
	case why == "idle":
		return "idle timeout: no kernel activity"
	case why == "exit 0":
		return "Jupyter exited"
	case strings.HasPrefix(why, "exit "):
		return "Jupyter exited with status " + strings.TrimPrefix(why, "exit ") + " (" + filepath.Join(dir, jupyterLog) + " says why)"
	default:
		return why
	}
}

// pendingReason puts SLURM's reason for a pending job in words, keeping
// SLURM's own name for it (which its documentation and admins use).
func pendingReason(r string) string {
	r = strings.Trim(r, "()")
	words := map[string]string{
		"Resources":         "Resources: waiting for free nodes or GPUs",
		"Priority":          "Priority: jobs ahead of it in the queue",
		"Dependency":        "Dependency: waiting for another job",
		"BeginTime":         "BeginTime: not yet its start time",
		"ReqNodeNotAvail":   "ReqNodeNotAvail: the nodes it needs are unavailable",
		"PartitionDown":     "PartitionDown: the partition is down",
		"JobHeldUser":       "JobHeldUser: held (scontrol release)",
		"JobHeldAdmin":      "JobHeldAdmin: held by an administrator",
		"AssocGrpGRES":      "AssocGrpGRES: the account's GPU limit is in use",
		"QOSMaxGRESPerUser": "QOSMaxGRESPerUser: your GPU limit is in use",
	}
	for k, v := range words {
		if strings.HasPrefix(r, k) && (len(r) == len(k) || r[len(k)] == ',' || r[len(k)] == ' ') {
			return v
		}
	}
	if r == "" || r == "None" {
		return "waiting to be scheduled"
	}
	return r
}

// active is true for a job that holds, or waits for, resources.
func active(state string) bool {
	switch state {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING",
		"RUNNING", "SIGNALING", "STAGE_OUT", "RESIZING", "SUSPENDED", "STOPPED", "COMPLETING":
		return true
	}
	return false
}
