package kernel

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with errors.Is. The wrapped messages say what to do.
var (
	// ErrAuth: the server rejected the token.
	ErrAuth = errors.New("jupyter server rejected the token")
	// ErrKernelNotFound: no kernel with that id (never started, shut down, or culled).
	ErrKernelNotFound = errors.New("kernel not found")
	// ErrFileNotFound: no file at that path in the server's contents.
	ErrFileNotFound = errors.New("file not found")
	// ErrKernelDead: the kernel was shut down or could not be restarted.
	ErrKernelDead = errors.New("kernel is dead")
	// ErrKernelRestarted: the kernel restarted (on request or after a crash)
	// while a request was pending; its state is gone.
	ErrKernelRestarted = errors.New("kernel restarted")
	// ErrInterruptFailed: the kernel kept running after an interrupt.
	ErrInterruptFailed = errors.New("interrupt did not stop the kernel")
	// ErrConnection: the server or the kernel's websocket could not be reached
	// or was lost.
	ErrConnection = errors.New("jupyter connection failed")
	// ErrMessageTooLarge: a request is over MaxMessageSize; it was not sent.
	ErrMessageTooLarge = errors.New("message too large for the kernel's websocket")
)

// errorf wraps a sentinel with a message of its own, so errors.Is works and
// the text is not the sentinel's text glued to a suffix.
func errorf(sentinel error, format string, args ...any) error {
	return &kindError{kind: sentinel, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
