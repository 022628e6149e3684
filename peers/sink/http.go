package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
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
	Metrics  *Metrics      // times each request, counts retries (nil: none)
}

// HeaderIdempotencyKey carries Batch.Key: a receiver that has applied a
// key already answers 2xx without applying it again.
const HeaderIdempotencyKey = "Idempotency-Key"

type httpSink struct {
	url   string
	shown string // url without credentials, for errors and logs
	o     HTTPOptions
	zenc  *zstd.Encoder
	reach atomic.Pointer[reachState] // the last attempt's; nil before any
}

// reachState is whether an attempt reached the destination: err is the
// connection error of one that did not, nil for one that got an answer.
type reachState struct{ err error }

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
		last = s.attempt(ctx, b, payload)
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
		s.o.Metrics.retry()
		delay *= 2
	}
	return fmt.Errorf("sink: %s after %d attempts: %w", s.shown, s.o.Attempts, last)
}

// attempt posts once, times it by outcome and remembers whether it
// reached the destination. An attempt cut short by ctx (the sink
// stopping) is neither timed nor remembered.
func (s *httpSink) attempt(ctx context.Context, b Batch, payload []byte) error {
	start := time.Now()
	reached, err := s.post(ctx, b, payload)
	if ctx.Err() != nil {
		return err
	}
	outcome := outcomeOK
	switch {
	case err != nil && reached:
		outcome = outcomeRefused
	case err != nil:
		outcome = outcomeError
	}
	s.o.Metrics.attempt(start, outcome)
	st := &reachState{}
	if !reached {
		st.err = err
	}
	s.reach.Store(st)
	return err
}

// post sends the batch once; reached says the destination answered.
func (s *httpSink) post(ctx context.Context, b Batch, payload []byte) (reached bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrPermanent, err)
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
		return false, fmt.Errorf("POST %s: %s", s.shown, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return true, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return true, fmt.Errorf("HTTP %d: %s", c, bytes.TrimSpace(msg))
	case c >= 300 && c < 400:
		return true, fmt.Errorf("%w: HTTP %d redirect to %q: point the sink at the final URL", ErrPermanent, c, resp.Header.Get("Location"))
	default:
		return true, fmt.Errorf("%w: HTTP %d: %s", ErrPermanent, c, bytes.TrimSpace(msg))
	}
}

// check reports the last attempt's connection error; before any
// attempt, it opens a TCP connection to the destination (or the proxy
// the environment names for it) and closes it.
func (s *httpSink) check(ctx context.Context) error {
	if st := s.reach.Load(); st != nil {
		if st.err != nil {
			return fmt.Errorf("sink: destination unreachable: %w", st.err)
		}
		return nil
	}
	u, err := url.Parse(s.url)
	if err != nil {
		return fmt.Errorf("sink: destination %s: %w", s.shown, err)
	}
	target := u
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && proxy != nil {
		target = proxy
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", hostPort(target))
	if err != nil {
		return fmt.Errorf("sink: destination unreachable: %w", err)
	}
	return c.Close()
}

// hostPort is a URL's host and port, the scheme's default port if none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
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
