package core

import (
	"errors"
	"fmt"
)

// Sentinel errors. They keep their identity across the plugin boundary:
// errors.Is answers the same in-process and through go-plugin.
var (
	// ErrNotFound: the session or sandbox does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig: the configuration is wrong; the message says how to fix it.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrUnsupported: the provider cannot do what was asked (a GPU kind it lacks).
	ErrUnsupported = errors.New("not supported by this provider")
	// ErrUnavailable: the backend cannot be reached (daemon down, no credentials, quota).
	ErrUnavailable = errors.New("provider backend unavailable")
	// ErrPluginFailed: a provider plugin crashed, hung, or is not a Sena plugin.
	ErrPluginFailed = errors.New("provider plugin failed")
)

// Errorf wraps a sentinel with a message a user can act on:
// Errorf(ErrInvalidConfig, "gpu %q: want KIND[:N]", s).
func Errorf(sentinel error, format string, args ...any) error {
	return &kindError{kind: sentinel, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
