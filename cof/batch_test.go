package cof

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

func newCodec(t testing.TB, opts ...Option) *Codec {
	t.Helper()
	c, err := NewCodec(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// realistic returns n distinct ~200-byte records as an NDJSON batch.
func realistic(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"rrname":"host%d.cdn.example-provider.com","rrtype":"A","rdata":["192.0.2.%d","198.51.100.%d"],"time_first":1700000000,"time_last":17000%05d,"count":%d,"bailiwick":"example-provider.com","sensor_id":"org-a-resolver-%d"}`+"\n",
			i, i%250+1, i%200+1, i, i*7+1, i%4)
	}
	return b.Bytes()
}

func TestParseEncoding(t *testing.T) {
	tests := []struct {
		in   string
		want Encoding
		err  bool
	}{
		{in: "", want: Identity}, {in: "identity", want: Identity}, {in: " ZSTD ", want: Zstd},
		{in: "s2", want: S2}, {in: "gzip", err: true}, {in: "br", err: true},
	}
	for _, tt := range tests {
		got, err := ParseEncoding(tt.in)
		if tt.err {
			if !errors.Is(err, ErrUnknownEncoding) {
				t.Errorf("ParseEncoding(%q): got %v, want ErrUnknownEncoding", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseEncoding(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	c := newCodec(t)
	body := realistic(500)
	for _, enc := range []Encoding{Identity, Zstd, S2} {
		t.Run(string(enc)+"_", func(t *testing.T) {
			payload, err := c.Compress(nil, body, enc)
			if err != nil {
				t.Fatal(err)
			}
			if enc != Identity && len(payload) >= len(body)/2 {
				t.Errorf("%s compressed %d bytes to %d", enc, len(body), len(payload))
			}
			br := c.NewBatchReader()
			for round := 0; round < 2; round++ { // the reader is reusable
				if err := br.Reset(payload, enc); err != nil {
					t.Fatal(err)
				}
				if br.Lines() != 500 {
					t.Errorf("Lines() = %d, want 500", br.Lines())
				}
				n := 0
				for br.Next() {
					if err := br.LineErr(); err != nil {
						t.Fatalf("line %d: %v", br.LineNumber(), err)
					}
					n++
					if want := fmt.Sprintf("host%d.cdn.example-provider.com", n-1); br.Record().RRName != want {
						t.Fatalf("record %d: rrname %q, want %q", n, br.Record().RRName, want)
					}
				}
				if n != 500 {
					t.Errorf("read %d records, want 500", n)
				}
			}
		})
	}
}

func TestBatchLineErrors(t *testing.T) {
	c := newCodec(t)
	body := []byte("{\"rrname\":\"a.example\",\"rrtype\":\"A\",\"rdata\":\"192.0.2.1\",\"time_first\":1,\"time_last\":2}\r\n\n" +
		"garbage\n" +
		`{"rrname":"b.example","rrtype":"A","rdata":"192.0.2.300","time_first":1,"time_last":2}` + "\n" +
		`{"rrname":"c.example","rrtype":"A","rdata":"192.0.2.3","time_first":1,"time_last":2}`) // no final newline
	br := c.NewBatchReader()
	if err := br.Reset(body, Identity); err != nil {
		t.Fatal(err)
	}
	type result struct {
		line int
		name string
		err  string
		raw  string
	}
	var got []result
	for br.Next() {
		r := result{line: br.LineNumber(), raw: string(br.Line())}
		if err := br.LineErr(); err != nil {
			r.err = err.Error()
		} else {
			r.name = br.Record().RRName
		}
		got = append(got, r)
	}
	want := []result{
		{line: 1, name: "a.example", raw: `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`},
		{line: 3, err: "line 3: invalid JSON at byte 1: unexpected character", raw: "garbage"},
		{line: 4, err: `line 4: rdata: "192.0.2.300" is not an IPv4 address`, raw: `{"rrname":"b.example","rrtype":"A","rdata":"192.0.2.300","time_first":1,"time_last":2}`},
		{line: 5, name: "c.example", raw: `{"rrname":"c.example","rrtype":"A","rdata":"192.0.2.3","time_first":1,"time_last":2}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestBatchLimits(t *testing.T) {
	t.Run("too many records", func(t *testing.T) {
		c := newCodec(t, WithMaxRecords(10))
		br := c.NewBatchReader()
		err := br.Reset(realistic(11), Identity)
		if !errors.Is(err, ErrTooManyRecords) {
			t.Fatalf("got %v, want ErrTooManyRecords", err)
		}
		if br.Next() {
			t.Error("Next after a failed Reset returned true")
		}
		if err := br.Reset(realistic(10), Identity); err != nil {
			t.Errorf("10 records: %v", err)
		}
	})
	t.Run("plain batch too large", func(t *testing.T) {
		c := newCodec(t, WithMaxBatchBytes(1000))
		if _, err := c.Decompress(nil, realistic(10), Identity); !errors.Is(err, ErrBatchTooLarge) {
			t.Fatalf("got %v, want ErrBatchTooLarge", err)
		}
	})
	t.Run("unknown encoding", func(t *testing.T) {
		c := newCodec(t)
		if _, err := c.Decompress(nil, []byte("x"), Encoding("br")); !errors.Is(err, ErrUnknownEncoding) {
			t.Fatalf("got %v, want ErrUnknownEncoding", err)
		}
		if _, err := c.Compress(nil, []byte("x"), Encoding("br")); !errors.Is(err, ErrUnknownEncoding) {
			t.Fatalf("got %v, want ErrUnknownEncoding", err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		c := newCodec(t)
		for _, enc := range []Encoding{Zstd, S2} {
			payload, _ := c.Compress(nil, realistic(50), enc)
			payload[len(payload)/2] ^= 0xff
			payload = payload[:len(payload)-3]
			if _, err := c.Decompress(nil, payload, enc); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: got %v, want ErrCorrupt", enc, err)
			}
			if _, err := c.Decompress(nil, []byte("definitely not compressed"), enc); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s garbage: got %v, want ErrCorrupt", enc, err)
			}
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []Option{WithMaxRecords(0), WithMaxBatchBytes(10), WithMaxBatchBytes(2 << 30), WithMaxLineBytes(1 << 30)} {
			if _, err := NewCodec(o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("got %v, want ErrInvalidOption", err)
			}
		}
	})
}

// TestCompressionBomb feeds a batch that expands to 1 GiB, in each framing
// a producer could use, and checks it is refused without the memory.
func TestCompressionBomb(t *testing.T) {
	const limit = 1 << 20
	c := newCodec(t, WithMaxBatchBytes(limit))
	zeros := make([]byte, 1<<20)

	var zstdKnown, zstdStream bytes.Buffer
	zw, _ := zstd.NewWriter(&zstdStream, zstd.WithEncoderLevel(zstd.SpeedFastest))
	for i := 0; i < 1024; i++ {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	// A frame that declares its (huge) size up front.
	enc, _ := zstd.NewWriter(nil)
	zstdKnown.Write(enc.EncodeAll(make([]byte, 64<<20), nil))
	_ = enc.Close()

	var s2Stream bytes.Buffer
	sw := s2.NewWriter(&s2Stream)
	for i := 0; i < 1024; i++ {
		_, _ = sw.Write(zeros)
	}
	_ = sw.Close()

	bombs := []struct {
		name    string
		enc     Encoding
		payload []byte
	}{
		{name: "zstd stream, size unknown", enc: Zstd, payload: zstdStream.Bytes()},
		{name: "zstd frame, size declared", enc: Zstd, payload: zstdKnown.Bytes()},
		{name: "s2 stream", enc: S2, payload: s2Stream.Bytes()},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			if len(b.payload) > 8<<20 {
				t.Fatalf("bomb is %d bytes, not a bomb", len(b.payload))
			}
			out, err := c.Decompress(nil, b.payload, b.enc)
			if !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("got %d bytes, %v; want ErrBatchTooLarge", len(out), err)
			}
			br := c.NewBatchReader()
			if err := br.Reset(b.payload, b.enc); !errors.Is(err, ErrBatchTooLarge) {
				t.Fatalf("BatchReader.Reset: got %v, want ErrBatchTooLarge", err)
			}
		})
	}
}

func TestBatchAtLimit(t *testing.T) {
	body := realistic(100)
	c := newCodec(t, WithMaxBatchBytes(len(body)))
	for _, enc := range []Encoding{Identity, Zstd, S2} {
		payload, _ := c.Compress(nil, body, enc)
		out, err := c.Decompress(nil, payload, enc)
		if err != nil || !bytes.Equal(out, body) {
			t.Errorf("%q: a batch of exactly the limit: %v", enc, err)
		}
	}
	c2 := newCodec(t, WithMaxBatchBytes(len(body)-1))
	for _, enc := range []Encoding{Identity, Zstd, S2} {
		payload, _ := c2.Compress(nil, body, enc)
		if _, err := c2.Decompress(nil, payload, enc); !errors.Is(err, ErrBatchTooLarge) {
			t.Errorf("%q: one byte over the limit: got %v", enc, err)
		}
	}
}

func TestRecordsSurviveBatchReuse(t *testing.T) {
	c := newCodec(t)
	br := c.NewBatchReader()
	var kept []Record
	for _, body := range []string{
		`{"rrname":"first.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`,
		`{"rrname":"second.example","rrtype":"A","rdata":"192.0.2.2","time_first":1,"time_last":2}`,
	} {
		payload, _ := c.Compress(nil, []byte(body), Zstd)
		if err := br.Reset(payload, Zstd); err != nil {
			t.Fatal(err)
		}
		for br.Next() {
			kept = append(kept, *br.Record())
		}
	}
	if kept[0].RRName != "first.example" || kept[0].RData[0] != "192.0.2.1" {
		t.Errorf("first record changed after the reader was reused: %+v", kept[0])
	}
	if strings.Join([]string{kept[1].RRName, kept[1].RData[0]}, " ") != "second.example 192.0.2.2" {
		t.Errorf("second record wrong: %+v", kept[1])
	}
}
