package deadletters

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/routing"
)

// headerTruncated, on a batch dead-lettered whole that was too large to
// keep, gives its original size.
const headerTruncated = "Cofswitch-Truncated"

// Filter chooses dead letters by sensor, kind and the time the switch
// stored them.
type Filter struct {
	// Sensor is the sensor whose dead letters are wanted; "" for every
	// sensor's, which only the operator may read.
	Sensor string
	// Kind keeps the entries of that kind only ("bad_rdata", "syntax",
	// ...; "" for all).
	Kind string
	// Since and Until bound the time stored, both included; zero for no
	// bound.
	Since, Until time.Time
}

// stored reports whether t is within the filter's times.
func (f Filter) stored(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || !t.After(f.Until))
}

// Entry is one rejected record as the switch dead-lettered it, or a batch
// rejected whole, with where it is kept: the DLQ sequence (for 'dlq show')
// and the time stored.
type Entry struct {
	Seq          uint64    `json:"dlq_seq"`
	Stored       time.Time `json:"stored"`
	Sensor       string    `json:"sensor"`
	WholeBatch   bool      `json:"whole_batch,omitempty"`
	Line         int       `json:"line,omitempty"`
	Kind         string    `json:"kind"`
	Field        string    `json:"field,omitempty"`
	Error        string    `json:"error"`
	InputSeq     uint64    `json:"input_seq,omitempty"`
	Encoding     string    `json:"encoding,omitempty"`
	RawBytes     int       `json:"raw_bytes,omitempty"`
	RawTruncated bool      `json:"raw_truncated,omitempty"`
	Raw          string    `json:"raw,omitempty"`
	RawBase64    string    `json:"raw_base64,omitempty"`
}

// Letter is one message of COF_DLQ: the entries the switch dead-lettered
// from one input batch, or that batch whole.
type Letter struct {
	Seq     uint64
	Stored  time.Time
	Sensor  string
	Entries []Entry
}

// onlyKind reports whether every entry of l is of kind.
func (l *Letter) onlyKind(kind string) bool {
	for i := range l.Entries {
		if l.Entries[i].Kind != kind {
			return false
		}
	}
	return true
}

// letterOf decodes one COF_DLQ message. A batch dead-lettered whole keeps
// its bytes in Raw (or RawBase64 when compressed or not UTF-8) only when
// full is set: they can be a megabyte, which a listing does not want.
func letterOf(subject string, seq uint64, stored time.Time, h nats.Header, data []byte, full bool) Letter {
	l := Letter{Seq: seq, Stored: stored.UTC(), Sensor: sensorOf(subject)}
	if kind := h.Get(headerErrorKind); kind != "" {
		e := Entry{WholeBatch: true, Kind: kind, Error: h.Get(headerError), Encoding: h.Get(headerEncoding), RawBytes: len(data)}
		e.InputSeq, _ = strconv.ParseUint(h.Get(headerInputSeq), 10, 64)
		if n, err := strconv.Atoi(h.Get(headerTruncated)); err == nil {
			e.RawBytes, e.RawTruncated = n, true
		}
		if full {
			if (e.Encoding == "" || e.Encoding == "identity") && utf8.Valid(data) {
				e.Raw = string(data)
			} else {
				e.RawBase64 = base64.StdEncoding.EncodeToString(data)
			}
		}
		l.Entries = []Entry{e}
	} else {
		for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			var e Entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				e = Entry{Kind: "unreadable", Error: "not a dead-letter entry: " + err.Error(), Raw: line}
			}
			l.Entries = append(l.Entries, e)
		}
	}
	for i := range l.Entries {
		e := &l.Entries[i]
		e.Seq, e.Stored = l.Seq, l.Stored
		if e.Sensor == "" {
			e.Sensor = l.Sensor
		}
	}
	return l
}

// sensorOf is the sensor of a cof.dlq.<sensor> subject, or the subject's
// token as it is when it does not unescape.
func sensorOf(subject string) string {
	tok := strings.TrimPrefix(subject, routing.DLQPrefix)
	if id, err := routing.UnescapeToken(tok); err == nil {
		return id
	}
	return tok
}
