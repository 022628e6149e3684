package cof

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Reader streams COF records from a file or pipe of any size: plain NDJSON,
// gzip or zstd, recognised by their magic bytes. It holds one line in memory
// at a time. Invalid lines do not stop it: each is reported by LineErr with
// its line number, and reading goes on.
//
//	rd, err := cof.NewReader(f)
//	for rd.Next() {
//		if err := rd.LineErr(); err != nil { log(err); continue }
//		use(rd.Record())
//	}
//	if err := rd.Err(); err != nil { /* I/O or decompression failure */ }
type Reader struct {
	src     *bufio.Reader
	closer  func()
	maxLine int
	p       Parser
	long    []byte
	cur     []byte
	line    int
	rec     Record
	lineErr error
	err     error
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// NewReader returns a Reader over r. It takes the WithMaxLineBytes option.
// It fails if r starts like a gzip or zstd stream whose header is bad.
func NewReader(r io.Reader, opts ...Option) (*Reader, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	rd := &Reader{maxLine: o.maxLineBytes, p: Parser{maxLine: o.maxLineBytes}}
	src, closer, err := Decompressed(r)
	if err != nil {
		return nil, err
	}
	rd.closer = closer
	br := bufio.NewReaderSize(src, 64<<10)
	rd.src = br
	return rd, nil
}

// Decompressed returns a reader of r's content, decompressed when r starts
// like a gzip or zstd stream, and a function that releases the
// decompressor. It fails if a gzip or zstd header is bad.
func Decompressed(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("cof: gzip: %w", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("cof: zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// Close releases the decompressor, if any. It does not close the
// underlying reader.
func (rd *Reader) Close() error {
	rd.closer()
	return nil
}

// Next advances to the next non-blank line. It returns false at the end of
// input or on a read error (see Err).
func (rd *Reader) Next() bool {
	rd.cur, rd.lineErr = nil, nil
	for rd.err == nil {
		line, length, err := rd.readLine()
		switch {
		case err != nil && !errors.Is(err, io.EOF):
			rd.err = fmt.Errorf("cof: reading line %d: %w", rd.line+1, err)
			return false
		case err != nil && length == 0:
			rd.err = io.EOF
			return false
		}
		rd.line++
		rd.cur = line
		if length > rd.maxLine {
			rd.rec = Record{}
			e := lineTooLong(length, rd.maxLine)
			e.Line = rd.line
			rd.lineErr = e
			return true
		}
		if isBlank(line) {
			continue
		}
		if err := rd.p.Parse(line, &rd.rec); err != nil {
			err.(*Error).Line = rd.line
			rd.lineErr = err
		}
		return true
	}
	return false
}

// readLine returns the next line without its line end. A line longer than
// the limit is consumed to its end without being held in memory; it is
// reported by its length, its first bytes kept for context.
func (rd *Reader) readLine() (line []byte, length int, err error) {
	b, err := rd.src.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		line = trimEOL(b)
		if len(line) > rd.maxLine {
			return line[:64], len(line), err
		}
		return line, len(line), err
	}
	rd.long = append(rd.long[:0], b...)
	total := len(b)
	var prev byte
	for errors.Is(err, bufio.ErrBufferFull) {
		prev = b[len(b)-1]
		b, err = rd.src.ReadSlice('\n')
		total += len(b)
		if len(rd.long) <= rd.maxLine+2 {
			rd.long = append(rd.long, b...)
		}
	}
	eol := eolLen(b)
	if eol == 1 && len(b) == 1 && prev == '\r' { // CRLF split across reads
		eol = 2
	}
	length = total - eol
	if length > rd.maxLine {
		return rd.long[:64], length, err
	}
	return rd.long[:length], length, err
}

func trimEOL(b []byte) []byte { return b[:len(b)-eolLen(b)] }

// eolLen is the length of the LF or CRLF that ends b, if any.
func eolLen(b []byte) int {
	n := len(b)
	switch {
	case n >= 2 && b[n-2] == '\r' && b[n-1] == '\n':
		return 2
	case n >= 1 && b[n-1] == '\n':
		return 1
	}
	return 0
}

// Err returns the first read or decompression error, or nil at a clean end
// of input.
func (rd *Reader) Err() error {
	if errors.Is(rd.err, io.EOF) {
		return nil
	}
	return rd.err
}

// Record returns the current record, or nil when the line was invalid. The
// Record is overwritten by Next; its strings and slices are never reused.
func (rd *Reader) Record() *Record {
	if rd.lineErr != nil || rd.cur == nil {
		return nil
	}
	return &rd.rec
}

// LineErr returns why the current line was rejected, as an *Error, or nil.
func (rd *Reader) LineErr() error { return rd.lineErr }

// Line returns the current line as read (for a line over the limit, its
// first 64 bytes); valid until Next.
func (rd *Reader) Line() []byte { return rd.cur }

// LineNumber returns the 1-based number of the current line.
func (rd *Reader) LineNumber() int { return rd.line }
