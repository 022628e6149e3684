package dnstap

import (
	"context"
	"fmt"
	"io"
	"os"
)

// ReadFile reads a Frame Streams file, as 'dnstap -w' or fstrm_capture
// write it, and hands each message to h. It returns when the file ends
// (nil), ctx is done (its error), or the file is no dnstap file (an
// *Error). A frame that is no dnstap message is counted and skipped.
// Options: MaxFrameBytes, WithStats, WithLogger.
func ReadFile(ctx context.Context, name string, h Handler, opts ...Option) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dnstap: %w", err)
	}
	defer f.Close()
	return ReadStream(ctx, f, h, opts...)
}

// ReadStream reads a unidirectional Frame Streams stream from r, as
// ReadFile does.
func ReadStream(ctx context.Context, r io.Reader, h Handler, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	fr := &frameReader{o: &o, log: newRateLog(&o, "dnstap: malformed input in stream"), h: h}
	defer fr.log.flush()
	fs, err := fr.open(r, false)
	if err != nil {
		return err
	}
	return fr.run(ctx, fs)
}
