package dnstap

import (
	"context"
	"errors"
	"io"
	"net"
	"os"

	tap "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
)

// Handler receives each message an input decodes. A server calls it from
// one goroutine per connection, so concurrently when several resolvers
// are connected. m and its slices are valid during the call only.
type Handler func(m *Message)

// frameReader reads the data frames of one Frame Streams stream, a
// connection or a file, and hands each decoded message to a Handler.
type frameReader struct {
	o   *options
	log *rateLog
	h   Handler
	// dropOnBad ends the stream at the first frame that is no dnstap
	// message: a connection that sends garbage is closed, while a file
	// goes on with its next frame.
	dropOnBad bool
}

// open does the Frame Streams handshake: READY, ACCEPT and START on a
// connection (bidirectional), START on a file. The content type must be
// "protobuf:dnstap.Dnstap".
func (fr *frameReader) open(rw io.Reader, bidirectional bool) (*framestream.Reader, error) {
	ropt := &framestream.ReaderOptions{
		ContentTypes:  [][]byte{tap.FSContentType},
		Bidirectional: bidirectional,
	}
	if bidirectional {
		ropt.Timeout = fr.o.handshakeTimeout
	}
	r, err := framestream.NewReader(rw, ropt)
	if err == nil {
		return r, nil
	}
	switch {
	case errors.Is(err, io.EOF):
		return nil, err // closed before a word: a probe, not garbage
	case errors.Is(err, framestream.ErrContentTypeMismatch):
		return nil, fr.bad(ReasonContentType, err)
	default:
		return nil, fr.bad(ReasonHandshake, err)
	}
}

// run reads frames until the stream ends, the context is done or a frame
// is malformed in a way that ends it. A clean end (a STOP control frame,
// or the end of the stream between frames) returns nil.
func (fr *frameReader) run(ctx context.Context, r *framestream.Reader) error {
	buf := make([]byte, fr.o.maxFrameBytes)
	var m Message
	for ctx.Err() == nil {
		n, err := r.ReadFrame(buf)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, framestream.ErrDataFrameTooLarge):
			if fr.dropOnBad {
				return fr.bad(ReasonFrameTooLarge, nil)
			}
			_ = fr.bad(ReasonFrameTooLarge, nil)
			continue
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fr.bad(ReasonFrameTruncated, nil)
		case errors.Is(err, framestream.ErrDecode):
			return fr.bad(ReasonControl, nil)
		case errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded):
			return ctx.Err()
		default:
			return err
		}
		fr.o.stats.frames.Add(1)
		if err := m.Unmarshal(buf[:n]); err != nil {
			fr.o.stats.count(ReasonProtobuf)
			fr.log.note(ReasonProtobuf)
			if fr.dropOnBad {
				return err
			}
			continue
		}
		fr.h(&m)
	}
	return ctx.Err()
}

// bad counts and logs a malformed stream and returns its error.
func (fr *frameReader) bad(r Reason, cause error) error {
	fr.o.stats.count(r)
	fr.log.note(r)
	detail := ""
	if cause != nil {
		detail = cause.Error()
	}
	return malformed(r, detail)
}
