package pipeline

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/sensor/dnstap"
	"github.com/cofswitch/cofswitch/sensor/follow"
	"github.com/cofswitch/cofswitch/sensor/logformat"
)

// runInput reads one input until it ends or ctx does.
func (p *Pipeline) runInput(ctx context.Context, in Input) error {
	switch in.Kind {
	case "dnstap-unix", "dnstap-tcp", "dnstap-file":
		return p.runDnstap(ctx, in)
	}
	parser, err := logformat.ByName(in.Kind, p.o.Formats...)
	if err != nil {
		return err
	}
	if in.Source == "-" {
		stdin := p.o.Stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		return p.runReader(ctx, stdin, parser)
	}
	return p.runFollow(ctx, in.Source, parser)
}

// lineErrLog bounds the log lines about unreadable input lines.
const lineErrEvery = 10 * time.Second

// parseLine parses one log line into a batch of copies.
func (p *Pipeline) parseLine(parser logformat.Parser, line []byte, last *time.Time) []cof.Record {
	var recs []cof.Record
	err := parser.Parse(line, func(r *cof.Record) { recs = append(recs, clone(r)) })
	if err != nil {
		p.lineErrors.Add(1)
		if time.Since(*last) > lineErrEvery {
			*last = time.Now()
			p.log.Warn("input lines skipped", "err", err, "skipped_total", p.lineErrors.Load())
		}
	}
	return recs
}

// runFollow follows a log file, resuming at its saved position.
func (p *Pipeline) runFollow(ctx context.Context, path string, parser logformat.Parser) error {
	f := follow.Open(path, p.saved[path], follow.Options{})
	defer f.Close()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		p.log.Warn("input file does not exist (yet): waiting for it", "path", path)
	}
	var last time.Time
	for {
		line, err := f.Next(ctx)
		if err != nil {
			return err
		}
		pos := f.Position()
		p.send(ctx, batch{recs: p.parseLine(parser, line, &last), pos: &pos})
	}
}

// runReader reads standard input to its end, or until ctx ends: a read
// from a terminal or an idle pipe cannot be interrupted, so the reading
// goroutine is left blocked in it then (it ends with the process).
func (p *Pipeline) runReader(ctx context.Context, r io.Reader, parser logformat.Parser) error {
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, follow.DefaultMaxLine)
		var last time.Time
		for sc.Scan() {
			if ctx.Err() != nil {
				done <- ctx.Err()
				return
			}
			p.send(ctx, batch{recs: p.parseLine(parser, sc.Bytes(), &last)})
		}
		done <- sc.Err()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runDnstap serves or reads dnstap; the converter is safe for the
// server's concurrent connections.
func (p *Pipeline) runDnstap(ctx context.Context, in Input) error {
	conv, err := dnstap.NewConverter(p.o.Dnstap...)
	if err != nil {
		return err
	}
	defer conv.Flush()
	handle := func(m *dnstap.Message) {
		var recs []cof.Record
		_ = conv.Convert(m, func(r *cof.Record) { recs = append(recs, clone(r)) }) // counted in its stats
		if len(recs) > 0 {
			p.send(ctx, batch{recs: recs})
		}
	}
	switch in.Kind {
	case "dnstap-file":
		return dnstap.ReadFile(ctx, in.Source, handle, p.o.Dnstap...)
	case "dnstap-unix":
		srv, err := dnstap.ListenUnix(ctx, in.Source, handle, p.o.Dnstap...)
		if err != nil {
			return err
		}
		return waitServer(ctx, srv)
	default:
		srv, err := dnstap.ListenTCP(ctx, in.Source, handle, p.o.Dnstap...)
		if err != nil {
			return err
		}
		return waitServer(ctx, srv)
	}
}

func waitServer(ctx context.Context, srv *dnstap.Server) error {
	select {
	case <-ctx.Done():
		_ = srv.Close()
		return ctx.Err()
	case <-srv.Done():
		return errors.New("dnstap server stopped")
	}
}

// clone copies a record a parser or converter may reuse.
func clone(r *cof.Record) cof.Record {
	c := *r
	c.RData = slices.Clone(r.RData)
	c.Addrs = slices.Clone(r.Addrs)
	c.Extra = slices.Clone(r.Extra)
	return c
}
