// Package sink delivers a peer's batches to where the receiving
// organisation keeps them: an HTTP endpoint, rotating files, stdout, or (in
// the next step) its pDNS database. A Runner pulls from the peer's durable
// consumer and acks a batch only once its Sink has confirmed it, so a crash
// or a failing destination redelivers, never loses. It imports cof and
// the NATS client; nothing of the switch.
package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Batch is one delivered message, decompressed.
type Batch struct {
	// Key identifies the batch across redeliveries (the peer stream and
	// sequence): destinations use it to apply each batch once.
	Key     string
	Body    []byte // NDJSON, one canonical COF record per line
	Records int
	TLP     string // "TLP:AMBER", or ""
}

// Sink is a destination. Deliver returns nil only once the batch is
// durably accepted; an error wrapping ErrPermanent means retrying the same
// batch cannot succeed without a change at the destination.
type Sink interface {
	Deliver(ctx context.Context, b Batch) error
	Close() error
}

// ErrPermanent marks failures that retrying will not fix (an HTTP 4xx, a
// full disk): the runner keeps the batch, backs off longer and says so
// loudly, but never drops it.
var ErrPermanent = errors.New("sink: permanent failure")

// Open returns the sink a destination names:
//
//	http://host/path, https://host/path   POST each batch (see HTTPOptions)
//	file:DIR                               rotating NDJSON.zst files in DIR
//	stdout                                 NDJSON on standard output
func Open(dest string, opts Options) (Sink, error) {
	if opts.HTTP.Metrics == nil {
		opts.HTTP.Metrics = opts.Metrics
	}
	if opts.Files.Metrics == nil {
		opts.Files.Metrics = opts.Metrics
	}
	switch {
	case strings.HasPrefix(dest, "http://"), strings.HasPrefix(dest, "https://"):
		return NewHTTP(dest, opts.HTTP)
	case strings.HasPrefix(dest, "file:"):
		return NewFiles(strings.TrimPrefix(dest, "file:"), opts.Files)
	case dest == "stdout" || dest == "-":
		return &writerSink{w: opts.Stdout, m: opts.Metrics}, nil
	}
	return nil, fmt.Errorf("sink: unknown destination %q (want http(s)://..., file:DIR or stdout)", dest)
}

// Options configure the destinations Open can make.
type Options struct {
	HTTP   HTTPOptions
	Files  FileOptions
	Stdout interface{ Write([]byte) (int, error) }
	// Metrics times the attempts of whichever destination Open makes
	// (unless HTTP.Metrics or Files.Metrics is set); nil: none.
	Metrics *Metrics
}

// checker is a Sink that can tell whether its destination can take a
// batch now.
type checker interface {
	check(ctx context.Context) error
}

// Ready reports whether s's destination can take a batch now: for an
// HTTP destination, that it is reachable (the last attempt reached it;
// before any, a TCP connection to it, or to its proxy, opens); for files,
// that the directory takes a write. Other destinations are always ready.
func Ready(ctx context.Context, s Sink) error {
	if c, ok := s.(checker); ok {
		return c.check(ctx)
	}
	return nil
}

// Redact hides the credentials in a destination before it is logged.
func Redact(dest string) string {
	if i := strings.Index(dest, "@"); i >= 0 {
		if j := strings.Index(dest, "://"); j >= 0 && j < i {
			return dest[:j+3] + "[redacted]" + dest[i:]
		}
	}
	return dest
}
