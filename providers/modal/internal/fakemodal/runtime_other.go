//go:build !unix

package fakemodal

import "errors"

// Without unix process groups the fake does not run sandboxes: there is
// no RunLocally, and this keeps the handlers compiling.
type runtime struct{}

func (*runtime) runs(*sandbox) bool { return false }

func (*runtime) start(*Server, *sandbox, map[string]string) (*hostSide, error) {
	return nil, errors.New("fakemodal: sandboxes run locally on unix only")
}
