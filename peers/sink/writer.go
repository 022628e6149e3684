package sink

import (
	"context"
	"io"
	"sync"
	"time"
)

// writerSink writes each batch's NDJSON to a writer (stdout): confirmed
// once the write returns.
type writerSink struct {
	mu sync.Mutex
	w  io.Writer
	m  *Metrics
}

// NewWriter returns a Sink that writes NDJSON to w.
func NewWriter(w io.Writer) Sink { return &writerSink{w: w} }

func (s *writerSink) Deliver(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	_, err := s.w.Write(b.Body)
	s.m.attempt(start, outcomeOf(err))
	return err
}

func (s *writerSink) Close() error { return nil }
