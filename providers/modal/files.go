package modal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// writeChunk is the most sent in one filesystem write, as the Python
// client's WRITE_CHUNK_SIZE.
const writeChunk = 16 << 20

// taskWait bounds how long deliver waits for the container to start.
const taskWait = 10 * time.Minute

// deliver writes data to path in the sandbox through Modal's filesystem API,
// then an empty path+".ready", which the sandbox's command waits for. The
// container must have started: until it has a task, Open fails and deliver
// retries.
func deliver(ctx context.Context, sb *modalsdk.Sandbox, path string, data []byte) error {
	if err := writeFile(ctx, sb, path, data); err != nil {
		return err
	}
	return writeFile(ctx, sb, path+".ready", nil)
}

func writeFile(ctx context.Context, sb *modalsdk.Sandbox, path string, data []byte) error {
	f, err := openWhenStarted(ctx, sb, path, "wb")
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), writeChunk)
		if _, err := f.Write(data[:n]); err != nil {
			_ = f.Close()
			return exitedOr(ctx, sb, fsError(sb, "write "+path, err))
		}
		data = data[n:]
	}
	if err := f.Close(); err != nil {
		// The command may have seen the file and finished already (a
		// download with nothing to do sees its ready mark at once).
		return exitedOr(ctx, sb, fsError(sb, "close "+path, err))
	}
	return nil
}

// exitedOr is errExited when the sandbox has ended, else err.
func exitedOr(ctx context.Context, sb *modalsdk.Sandbox, err error) error {
	if exitCode(ctx, sb) != nil {
		return errExited
	}
	return err
}

// openWhenStarted opens path in mode once the sandbox's container runs.
// modal-go reports a container that has not started (no task id yet) and
// one that has ended with plain errors; the second is final.
func openWhenStarted(ctx context.Context, sb *modalsdk.Sandbox, path, mode string) (*modalsdk.SandboxFile, error) {
	deadline := time.Now().Add(taskWait)
	for {
		f, err := sb.Open(ctx, path, mode)
		switch {
		case err == nil:
			return f, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case strings.Contains(err.Error(), "has already completed"):
			return nil, errExited
		case !strings.Contains(err.Error(), "does not have a task ID") || time.Now().After(deadline):
			return nil, fsError(sb, "open "+path, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// errExited says the sandbox ended before the files could be written; the
// caller reports how it ended.
var errExited = errors.New("the sandbox exited")

func fsError(sb *modalsdk.Sandbox, what string, err error) error {
	var fe modalsdk.SandboxFilesystemError
	if errors.As(err, &fe) {
		return core.Errorf(core.ErrUnavailable, "modal: %s in sandbox %s: %s", what, sb.SandboxID, fe.Exception)
	}
	return modalError(fmt.Sprintf("%s in sandbox %s", what, sb.SandboxID), err)
}
