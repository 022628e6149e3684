package cof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Encoding names the compression of a batch, as carried in the
// Content-Encoding header of a bus message.
type Encoding string

// Encodings a batch may use.
const (
	Identity Encoding = ""     // plain NDJSON
	Zstd     Encoding = "zstd" // one or more Zstandard frames (RFC 8878)
	S2       Encoding = "s2"   // the S2 stream format (also reads Snappy framed streams)
)

// ParseEncoding reads a Content-Encoding value. The empty string and
// "identity" mean no compression; letter case and spaces are ignored.
func ParseEncoding(v string) (Encoding, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "identity":
		return Identity, nil
	case "zstd":
		return Zstd, nil
	case "s2":
		return S2, nil
	}
	return Identity, fmt.Errorf("%w: %q (want zstd, s2 or none)", ErrUnknownEncoding, v)
}

// Codec compresses and decompresses batches within the configured limits.
// It is safe for concurrent use; Close releases its decoder goroutines.
type Codec struct {
	opts    options
	zdec    *zstd.Decoder
	zenc    *zstd.Encoder
	readers sync.Pool // *s2.Reader
	writers sync.Pool // *s2.Writer
}

// NewCodec returns a Codec. It takes the WithMaxBatchBytes, WithMaxRecords
// and WithMaxLineBytes options.
func NewCodec(opts ...Option) (*Codec, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	window := uint64(o.maxBatchBytes)
	if window < zstd.MinWindowSize {
		window = zstd.MinWindowSize
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(uint64(o.maxBatchBytes)),
		zstd.WithDecoderMaxWindow(window),
		zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("cof: zstd decoder: %w", err)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithZeroFrames(true))
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("cof: zstd encoder: %w", err)
	}
	return &Codec{opts: o, zdec: dec, zenc: enc}, nil
}

// Close releases the resources of the Codec.
func (c *Codec) Close() {
	c.zdec.Close()
	_ = c.zenc.Close()
}

// Decompress appends the decompressed payload to dst. It fails with
// ErrBatchTooLarge as soon as the output passes the batch limit, so a
// compression bomb costs at most the limit in memory. With Identity the
// payload itself is returned.
func (c *Codec) Decompress(dst, payload []byte, enc Encoding) ([]byte, error) {
	limit := c.opts.maxBatchBytes
	switch enc {
	case Identity:
		if len(payload) > limit {
			return nil, tooLarge(limit)
		}
		return payload, nil
	case Zstd:
		out, err := c.zdec.DecodeAll(payload, dst)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded):
			return nil, tooLarge(limit)
		case err != nil:
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		case len(out)-len(dst) > limit:
			return nil, tooLarge(limit)
		}
		return out, nil
	case S2:
		return c.s2Decompress(dst, payload, limit)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, string(enc))
}

func tooLarge(limit int) error {
	return fmt.Errorf("%w: decompressed size exceeds %d bytes", ErrBatchTooLarge, limit)
}

func (c *Codec) s2Decompress(dst, payload []byte, limit int) ([]byte, error) {
	r, _ := c.readers.Get().(*s2.Reader)
	if r == nil {
		r = s2.NewReader(nil, s2.ReaderMaxBlockSize(4<<20))
	}
	defer c.readers.Put(r)
	r.Reset(bytes.NewReader(payload))
	base := len(dst)
	if cap(dst)-base < 4096 {
		dst = append(dst, make([]byte, min(max(4*len(payload), 4096), limit+1))...)[:base]
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst)-base > limit {
				return nil, tooLarge(limit)
			}
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-base > limit {
			return nil, tooLarge(limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: s2: %v", ErrCorrupt, err)
		}
	}
}

// Compress appends body, compressed with enc, to dst.
func (c *Codec) Compress(dst, body []byte, enc Encoding) ([]byte, error) {
	switch enc {
	case Identity:
		return append(dst, body...), nil
	case Zstd:
		return c.zenc.EncodeAll(body, dst), nil
	case S2:
		w, _ := c.writers.Get().(*s2.Writer)
		if w == nil {
			w = s2.NewWriter(nil, s2.WriterConcurrency(1))
		}
		defer c.writers.Put(w)
		buf := bytes.NewBuffer(dst)
		w.Reset(buf)
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("cof: s2: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("cof: s2: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, string(enc))
}

// BatchReader iterates over the records of one batch at a time, reusing its
// buffers from batch to batch. Use one per goroutine:
//
//	if err := br.Reset(payload, enc); err != nil { /* the whole batch is bad */ }
//	for br.Next() {
//		if err := br.LineErr(); err != nil { /* dead-letter br.Line() */ continue }
//		use(br.Record())
//	}
type BatchReader struct {
	codec *Codec
	p     Parser
	buf   []byte
	body  []byte
	pos   int
	line  int
	lines int
	cur   []byte
	rec   Record
	err   error
}

// NewBatchReader returns a BatchReader that decodes with c's limits.
func (c *Codec) NewBatchReader() *BatchReader {
	return &BatchReader{codec: c, p: Parser{maxLine: c.opts.maxLineBytes}}
}

// Reset decompresses payload and prepares to iterate over its lines. An
// error means the batch as a whole is unusable: unknown encoding, corrupt
// data, or a limit exceeded.
func (b *BatchReader) Reset(payload []byte, enc Encoding) error {
	b.pos, b.line, b.lines, b.cur, b.err = 0, 0, 0, nil, nil
	body, err := b.codec.Decompress(b.buf[:0], payload, enc)
	if err != nil {
		b.body = nil
		return err
	}
	if enc != Identity {
		b.buf = body
	}
	b.body = body
	b.lines = bytes.Count(body, []byte{'\n'})
	if len(body) > 0 && body[len(body)-1] != '\n' {
		b.lines++
	}
	if max := b.codec.opts.maxRecords; b.lines > max {
		b.body = nil
		return fmt.Errorf("%w: %d lines, limit %d", ErrTooManyRecords, b.lines, max)
	}
	return nil
}

// Lines returns the number of lines in the batch, blank ones included.
func (b *BatchReader) Lines() int { return b.lines }

// Body returns the decompressed batch; valid until the next Reset.
func (b *BatchReader) Body() []byte { return b.body }

// Next advances to the next non-blank line and parses it.
func (b *BatchReader) Next() bool {
	for b.pos < len(b.body) {
		rest := b.body[b.pos:]
		end := bytes.IndexByte(rest, '\n')
		next := b.pos + end + 1
		if end < 0 {
			end, next = len(rest), len(b.body)
		}
		b.pos = next
		b.line++
		line := trimCR(rest[:end])
		if isBlank(line) {
			continue
		}
		b.cur = line
		b.err = b.p.Parse(line, &b.rec)
		if b.err != nil {
			b.err.(*Error).Line = b.line
		}
		return true
	}
	b.cur, b.err = nil, nil
	return false
}

// Record returns the current record, or nil when the line was invalid. It
// is overwritten by Next: copy the Record value to keep it (its strings
// and slices are never reused).
func (b *BatchReader) Record() *Record {
	if b.err != nil {
		return nil
	}
	return &b.rec
}

// LineErr returns why the current line was rejected, as an *Error, or nil.
func (b *BatchReader) LineErr() error { return b.err }

// Line returns the current line's bytes as received; valid until Reset.
func (b *BatchReader) Line() []byte { return b.cur }

// LineNumber returns the 1-based number of the current line in the batch.
func (b *BatchReader) LineNumber() int { return b.line }

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// lineErrf builds a line-level error for a reader.
func lineErrf(line int, sentinel error, reason string) *Error {
	return &Error{Line: line, Reason: reason, Err: sentinel}
}
