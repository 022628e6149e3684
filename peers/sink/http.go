package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// HTTPOptions configure the HTTP sink.
type HTTPOptions struct {
	Encoding string        // "gzip" (default), "zstd" or "identity"
	Attempts int           // tries per Deliver before handing back (default 5)
	Backoff  time.Duration // first retry delay, doubled each time, with jitter (default 200ms)
	Timeout  time.Duration // per request (default 30s)
	Header   http.Header   // extra headers, e.g. Authorization
	Client   *http.Client  // default: a client with Timeout
}

// HeaderIdempotencyKey carries Batch.Key: a receiver that has applied a
// key already answers 2xx without applying it again.
const HeaderIdempotencyKey = "Idempotency-Key"

type httpSink struct {
	url   string
	shown string // url without credentials, for errors and logs
	o     HTTPOptions
	zenc  *zstd.Encoder
}

// NewHTTP returns a Sink that POSTs each batch as NDJSON to url.
func NewHTTP(dest string, o HTTPOptions) (Sink, error) {
	if o.Encoding == "" {
		o.Encoding = "gzip"
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	if o.Backoff == 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	// A redirect is no confirmation: following it would turn the POST into
	// a GET without the batch, whose 2xx would be taken for delivery.
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &c
	s := &httpSink{url: dest, shown: redactURL(dest), o: o}
	switch o.Encoding {
	case "gzip", "identity":
	case "zstd":
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return nil, err
		}
		s.zenc = enc
	default:
		return nil, fmt.Errorf("sink: HTTP encoding %q: want gzip, zstd or identity", o.Encoding)
	}
	return s, nil
}

func (s *httpSink) body(b []byte) ([]byte, error) {
	switch s.o.Encoding {
	case "zstd":
		return s.zenc.EncodeAll(b, nil), nil
	case "gzip":
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return b, nil
}

// Deliver POSTs the batch, retrying 5xx, 408, 429 and network errors with
// exponential backoff and jitter. A 4xx is permanent for this batch.
func (s *httpSink) Deliver(ctx context.Context, b Batch) error {
	payload, err := s.body(b.Body)
	if err != nil {
		return err
	}
	delay := s.o.Backoff
	var last error
	for attempt := 1; attempt <= s.o.Attempts; attempt++ {
		last = s.post(ctx, b, payload)
		if last == nil || errors.Is(last, ErrPermanent) {
			return last
		}
		if attempt == s.o.Attempts {
			break
		}
		jittered := delay/2 + rand.N(delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(jittered):
		}
		delay *= 2
	}
	return fmt.Errorf("sink: %s after %d attempts: %w", s.shown, s.o.Attempts, last)
}

func (s *httpSink) post(ctx context.Context, b Batch, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	for k, v := range s.o.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.o.Encoding != "identity" {
		req.Header.Set("Content-Encoding", s.o.Encoding)
	}
	req.Header.Set(HeaderIdempotencyKey, b.Key)
	req.Header.Set("Cofswitch-Records", strconv.Itoa(b.Records))
	if b.TLP != "" {
		req.Header.Set("Cofswitch-TLP", b.TLP)
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		// net/http's errors quote the URL: say which without its secrets.
		return fmt.Errorf("POST %s: %s", s.shown, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("HTTP %d: %s", c, bytes.TrimSpace(msg))
	case c >= 300 && c < 400:
		return fmt.Errorf("%w: HTTP %d redirect to %q: point the sink at the final URL", ErrPermanent, c, resp.Header.Get("Location"))
	default:
		return fmt.Errorf("%w: HTTP %d: %s", ErrPermanent, c, bytes.TrimSpace(msg))
	}
}

// redactURL removes user information from a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (s *httpSink) Close() error {
	if s.zenc != nil {
		return s.zenc.Close()
	}
	return nil
}
