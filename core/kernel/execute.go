package kernel

import (
	"context"
	"encoding/json"
	"time"
)

// ExecuteOptions tune one Execute call. The zero value (or nil) runs the
// code without storing history, as an agent's scratch call would; notebook
// cells set StoreHistory.
type ExecuteOptions struct {
	// OnEvent receives the execution's outputs in arrival order, on the
	// caller's goroutine (never the reader's), before Execute returns. Types:
	// stream, display_data, update_display_data, execute_result, error,
	// clear_output, execute_input.
	OnEvent func(Event)
	// InterruptGrace: once ctx ends, the kernel is interrupted and given this
	// long to finish (default 10s).
	InterruptGrace time.Duration
	// StoreHistory numbers the execution and records it in the kernel's history.
	StoreHistory bool
	// Silent suppresses the kernel's outputs and execute_result.
	Silent bool
	// StopOnError makes a failure abort the executions queued behind this
	// one (Run All). Off by default: ipykernel 6 then also aborts, with
	// status "aborted" and no output, a request sent just after the failed
	// one finished, so one-at-a-time callers would see spurious aborts.
	StopOnError bool
	// MsgID is the execute_request's msg_id (a fresh one when empty), for a
	// listener that must know it before the kernel answers.
	MsgID string
}

// Event is one iopub output of an execution.
type Event struct {
	Type    string          // the Jupyter msg_type
	Content json.RawMessage // the message content, verbatim
}

// outputTypes are the iopub messages handed to OnEvent.
var outputTypes = map[string]bool{
	"stream": true, "display_data": true, "update_display_data": true, "execute_result": true,
	"error": true, "clear_output": true, "execute_input": true,
}

// ExecuteResult is how an execution ended. A Python exception is a result
// with Status "error", not a Go error.
type ExecuteResult struct {
	Status         string // ok, error or aborted; "" if no reply came
	ExecutionCount int
	EName, EValue  string   // Status "error": the exception
	Traceback      []string // Status "error": ANSI-coloured lines
	Interrupted    bool     // ctx ended and the kernel was interrupted
}

// defaultInterruptGrace is how long an interrupted execution may take to stop.
const defaultInterruptGrace = 10 * time.Second

// Execute runs code and waits until the kernel has both replied and gone
// idle for it. allow_stdin is false, so input() fails at once with
// StdinNotImplementedError. When ctx ends first, the kernel is interrupted:
// if it then stops within InterruptGrace the partial result comes back with
// Interrupted set and a nil error, otherwise with ErrInterruptFailed (and
// the kernel keeps running: Restart it). A kernel that restarts, dies or
// loses its socket fails the call at once with ErrKernelRestarted,
// ErrKernelDead or ErrConnection, and the partial result.
func (k *Kernel) Execute(ctx context.Context, code string, opts *ExecuteOptions) (*ExecuteResult, error) {
	if opts == nil {
		opts = &ExecuteOptions{}
	}
	grace := opts.InterruptGrace
	if grace <= 0 {
		grace = defaultInterruptGrace
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := k.startID("shell", "execute_request", map[string]any{
		"code": code, "silent": opts.Silent, "store_history": opts.StoreHistory,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": opts.StopOnError,
	}, opts.MsgID)
	if err != nil {
		return nil, err
	}
	defer k.finish(c)

	res := &ExecuteResult{}
	var halfTimer, interruptTimer <-chan time.Time
	cancelled := ctx.Done()
	for {
		events, reply, idle, err := k.take(c)
		for _, e := range events {
			res.observe(e)
			if opts.OnEvent != nil {
				opts.OnEvent(e)
			}
		}
		if err != nil {
			return res, err
		}
		if reply != nil && idle {
			return res, res.fromReply(reply)
		}
		if (reply != nil || idle) && halfTimer == nil {
			halfTimer = time.After(replyGrace)
		}
		select {
		case <-c.wake:
		case <-halfTimer:
			if reply != nil {
				return res, res.fromReply(reply) // the idle was lost; the reply is what counts
			}
			res.lostReply()
			return res, nil
		case <-cancelled:
			cancelled = nil
			res.Interrupted = true
			// The caller's ctx is over; the interrupt needs one of its own.
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
			err := k.srv.InterruptKernel(ictx, k.id)
			cancel()
			if err != nil {
				return res, errorf(ErrInterruptFailed, "kernel %s: execution cancelled (%v) but the interrupt failed: %v", k.id, ctx.Err(), err)
			}
			interruptTimer = time.After(grace)
		case <-interruptTimer:
			return res, errorf(ErrInterruptFailed,
				"kernel %s: still running %s after an interrupt (native code may ignore SIGINT): restart the kernel", k.id, grace)
		}
	}
}

// observe keeps what the result needs from an output as it passes.
func (r *ExecuteResult) observe(e Event) {
	switch e.Type {
	case "execute_input":
		var c struct {
			N int `json:"execution_count"`
		}
		if json.Unmarshal(e.Content, &c) == nil {
			r.ExecutionCount = c.N
		}
	case "error":
		var c struct {
			EName     string   `json:"ename"`
			EValue    string   `json:"evalue"`
			Traceback []string `json:"traceback"`
		}
		if json.Unmarshal(e.Content, &c) == nil {
			r.EName, r.EValue, r.Traceback = c.EName, c.EValue, c.Traceback
		}
	}
}

// fromReply fills the result from execute_reply; the reply's error fields,
// when present, win over those of the iopub error.
func (r *ExecuteResult) fromReply(m *message) error {
	var c struct {
		Status    string   `json:"status"`
		N         *int     `json:"execution_count"`
		EName     string   `json:"ename"`
		EValue    string   `json:"evalue"`
		Traceback []string `json:"traceback"`
	}
	if err := json.Unmarshal(m.Content, &c); err != nil {
		return errorf(ErrConnection, "bad execute_reply from the kernel: %v", err)
	}
	r.Status = c.Status
	if c.N != nil {
		r.ExecutionCount = *c.N
	}
	if c.EName != "" {
		r.EName, r.EValue, r.Traceback = c.EName, c.EValue, c.Traceback
	}
	return nil
}

// lostReply describes an execution that went idle but whose execute_reply
// never came: the outputs are complete, the status is not known.
func (r *ExecuteResult) lostReply() {
	r.Status = "error"
	if r.EName == "" {
		r.EName = "KernelReplyTimeout"
		r.EValue = "the kernel finished (went idle) but its execute_reply did not arrive within " + replyGrace.String()
	}
}
