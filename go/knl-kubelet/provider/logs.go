package provider

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// openLog reads a container's log file from the position tailLines asks for, capped at
// limitBytes; with follow it keeps reading until the client goes away.
func openLog(ctx context.Context, c *container, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	f, err := os.Open(c.logPath)
	if os.IsNotExist(err) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if err != nil {
		return nil, err
	}
	if opts.Tail > 0 {
		if _, err := f.Seek(tailOffset(f, opts.Tail), io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	var r io.ReadCloser = f
	if opts.Follow {
		r = &follower{ctx: ctx, f: f}
	}
	if opts.LimitBytes > 0 {
		r = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(r, int64(opts.LimitBytes)), r}
	}
	return r, nil
}

// tailOffset is where the last n lines of f start.
func tailOffset(f *os.File, n int) int64 {
	data, err := io.ReadAll(f)
	if err != nil {
		return 0
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if data[i] == '\n' {
			n--
			if n == 0 {
				return int64(i + 1)
			}
		}
	}
	return 0
}

// follower reads a growing file until its context ends (the client closed the stream).
type follower struct {
	ctx context.Context
	f   *os.File
}

func (fl *follower) Read(p []byte) (int, error) {
	for {
		n, err := fl.f.Read(p)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		select {
		case <-fl.ctx.Done():
			return 0, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (fl *follower) Close() error { return fl.f.Close() }
