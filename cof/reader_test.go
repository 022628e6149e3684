package cof

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

type readResult struct {
	line int
	name string
	err  string
}

func readAll(t *testing.T, r io.Reader, opts ...Option) ([]readResult, error) {
	t.Helper()
	rd, err := NewReader(r, opts...)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out []readResult
	for rd.Next() {
		res := readResult{line: rd.LineNumber()}
		if err := rd.LineErr(); err != nil {
			res.err = err.Error()
			if rd.Record() != nil {
				t.Errorf("line %d: Record() not nil for an invalid line", rd.LineNumber())
			}
		} else {
			res.name = rd.Record().RRName
		}
		out = append(out, res)
	}
	return out, rd.Err()
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func zstded(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestReaderFormats(t *testing.T) {
	body := realistic(2000)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{name: "plain", data: body},
		{name: "gzip", data: gzipped(body)},
		{name: "gzip, two members", data: append(gzipped(body[:len(body)/2]), gzipped(body[len(body)/2:])...)},
		{name: "zstd", data: zstded(body)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// iotest-style one-byte reads exercise every buffer boundary.
			got, err := readAll(t, &slowReader{data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2000 {
				t.Fatalf("read %d records, want 2000", len(got))
			}
			for i, r := range got {
				if r.err != "" || r.line != i+1 || r.name != fmt.Sprintf("host%d.cdn.example-provider.com", i) {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		})
	}
}

// slowReader returns at most 7 bytes a call.
type slowReader struct {
	data []byte
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestReaderLongLines(t *testing.T) {
	ok := `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`
	long := `{"rrname":"b.example","rrtype":"TXT","rdata":"` + strings.Repeat("x", 200<<10) + `","time_first":1,"time_last":2}`
	input := ok + "\n" + long + "\n" + ok + "\n" + long // the last long line has no newline
	got, err := readAll(t, strings.NewReader(input), WithMaxLineBytes(100<<10))
	if err != nil {
		t.Fatal(err)
	}
	want := []readResult{
		{line: 1, name: "a.example"},
		{line: 2, err: fmt.Sprintf("line 2: line of %d bytes exceeds the limit of 102400", len(long))},
		{line: 3, name: "a.example"},
		{line: 4, err: fmt.Sprintf("line 4: line of %d bytes exceeds the limit of 102400", len(long))},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}

	// With the default limit the same long line is fine.
	got, err = readAll(t, strings.NewReader(long+"\n"))
	if err != nil || len(got) != 1 || got[0].err != "" {
		t.Errorf("200 KiB line under the default limit: %v %v", got, err)
	}

	// A short limit, below the reader's buffer size, is enforced too.
	got, _ = readAll(t, strings.NewReader(ok+"\n"), WithMaxLineBytes(64))
	if len(got) != 1 || got[0].err != fmt.Sprintf("line 1: line of %d bytes exceeds the limit of 64", len(ok)) {
		t.Errorf("64-byte limit: %v", got)
	}

	// Just over the limit, whatever the line end and whether the line
	// fits the read buffer, the report is the same.
	const limit = 100 << 10
	over := `{"x":"` + strings.Repeat("y", limit-7) + `"}` // limit+1 bytes
	for _, end := range []string{"\n", "\r\n", ""} {
		got, _ := readAll(t, strings.NewReader(over+end), WithMaxLineBytes(limit))
		want := fmt.Sprintf("line 1: line of %d bytes exceeds the limit of %d", limit+1, limit)
		if len(got) != 1 || got[0].err != want {
			t.Errorf("line end %q: got %v, want %q", end, got, want)
		}
		got, _ = readAll(t, strings.NewReader(over[:limit-2]+`"}`+end), WithMaxLineBytes(limit))
		if len(got) != 1 || strings.Contains(got[0].err, "exceeds") {
			t.Errorf("line end %q: a line of exactly the limit was refused: %v", end, got)
		}
	}
}

func TestReaderBlankLinesAndNumbers(t *testing.T) {
	ok := `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`
	got, err := readAll(t, strings.NewReader("\n  \n"+ok+"\r\n\r\nbad\n"+ok))
	if err != nil {
		t.Fatal(err)
	}
	want := []readResult{
		{line: 3, name: "a.example"},
		{line: 5, err: "line 5: invalid JSON at byte 1: unexpected character"},
		{line: 6, name: "a.example"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	got, err = readAll(t, strings.NewReader(""))
	if err != nil || len(got) != 0 {
		t.Errorf("empty input: %v %v", got, err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderErrors(t *testing.T) {
	ok := `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}` + "\n"
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("disk on fire")
		got, err := readAll(t, &failingReader{data: []byte(ok + ok + `{"rrname":`), err: boom})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "line 3") {
			t.Fatalf("got %v, want the read error at line 3", err)
		}
		if len(got) != 2 {
			t.Errorf("records before the error: %d, want 2", len(got))
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		gz := gzipped(realistic(1000))
		got, err := readAll(t, bytes.NewReader(gz[:len(gz)/2]))
		if err == nil {
			t.Fatal("truncated gzip read without error")
		}
		if len(got) == 0 {
			t.Error("no records before the truncation")
		}
	})
	t.Run("bad gzip header", func(t *testing.T) {
		if _, err := NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0, 0})); err == nil {
			t.Fatal("bad gzip header accepted")
		}
	})
	t.Run("corrupt zstd", func(t *testing.T) {
		z := zstded(realistic(1000))
		z[len(z)/2] ^= 0xff
		if _, err := readAll(t, bytes.NewReader(z)); err == nil {
			t.Fatal("corrupt zstd read without error")
		}
	})
	t.Run("bad option", func(t *testing.T) {
		if _, err := NewReader(strings.NewReader(""), WithMaxLineBytes(0)); !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("got %v, want ErrInvalidOption", err)
		}
	})
}
