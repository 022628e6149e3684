package dnstap

import (
	"strconv"
	"sync/atomic"

	tap "github.com/dnstap/golang-dnstap"
)

// Reason names why input was not converted. Each reason is counted in one
// place of Stats, given with its constant.
type Reason uint8

// Reasons for malformed input, counted in Snapshot.Malformed. A malformed
// frame ends its connection (not its file); a malformed DNS message is
// skipped.
const (
	_                    Reason = iota
	ReasonHandshake             // the Frame Streams handshake failed
	ReasonContentType           // the peer offered no "protobuf:dnstap.Dnstap"
	ReasonControl               // a control frame that Frame Streams does not define
	ReasonFrameTooLarge         // a data frame over the frame limit
	ReasonFrameTruncated        // the stream ended inside a frame
	ReasonProtobuf              // a data frame that is no dnstap protobuf message
	ReasonTime                  // no query or response time, or one past 9999
	ReasonQueryZone             // query_zone is no wire-format name
	ReasonDNSHeader             // a DNS message shorter than its header
	ReasonDNSTruncated          // a DNS message that ends inside a section
	ReasonDNSName               // a bad name: label type, length or pointers
	ReasonDNSRData              // rdata that does not fit its length or type

	// Reasons for messages that give no record, counted in
	// Snapshot.SkippedMessages.
	SkipQuery        // a query: nothing to record
	SkipType         // a message type not converted (see WithClientResponses)
	SkipNoResponse   // no response_message
	SkipNotResponse  // the QR bit is clear
	SkipOpcode       // an opcode other than QUERY
	SkipRcode        // a non-zero RCODE; COF has no negative answers
	SkipTruncated    // the TC bit is set: the answer is incomplete
	SkipEmpty        // no record left (NODATA, or every RR skipped)
	SkipRRClass      // an RR of a class other than IN (counted per RR)
	SkipRRMeta       // an OPT, TSIG, TKEY or SIG(0) RR (counted per RR)
	SkipRRType       // type 0 or a query type (ANY, AXFR, ...) as an RR (per RR)
	SkipRRSIG        // an RRSIG, without WithRRSIG (counted per RR)
	SkipRRBailiwick  // an RR whose owner is outside query_zone (per RR)
	SkipRRDuplicate  // an RR repeated in its RRset (per RR)
	SkipRRSetTooLong // an RRset whose rdata is over the record limit (per RRset)

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonHandshake:      "handshake",
	ReasonContentType:    "content_type",
	ReasonControl:        "control_frame",
	ReasonFrameTooLarge:  "frame_too_large",
	ReasonFrameTruncated: "frame_truncated",
	ReasonProtobuf:       "protobuf",
	ReasonTime:           "time",
	ReasonQueryZone:      "query_zone",
	ReasonDNSHeader:      "dns_header",
	ReasonDNSTruncated:   "dns_truncated",
	ReasonDNSName:        "dns_name",
	ReasonDNSRData:       "dns_rdata",
	SkipQuery:            "query",
	SkipType:             "type_not_converted",
	SkipNoResponse:       "no_response_message",
	SkipNotResponse:      "not_response",
	SkipOpcode:           "opcode",
	SkipRcode:            "rcode",
	SkipTruncated:        "tc",
	SkipEmpty:            "empty",
	SkipRRClass:          "rr_class",
	SkipRRMeta:           "rr_meta",
	SkipRRType:           "rr_type",
	SkipRRSIG:            "rr_rrsig",
	SkipRRBailiwick:      "rr_out_of_bailiwick",
	SkipRRDuplicate:      "rr_duplicate",
	SkipRRSetTooLong:     "rrset_too_long",
}

// String returns the reason's metric label, such as "dns_truncated".
func (r Reason) String() string {
	if r < numReasons && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "reason" + strconv.Itoa(int(r))
}

// perRR reports whether r counts RRs rather than messages.
func (r Reason) perRR() bool { return r >= SkipRRClass && r < numReasons }

// maxMessageType bounds the dnstap message types counted by number;
// others are counted as type 0.
const maxMessageType = 15

// Stats counts what inputs and converters did. One Stats may be shared by
// several of them (WithStats) and read at any time; the zero value is
// ready to use.
type Stats struct {
	frames      atomic.Uint64
	records     atomic.Uint64
	connections atomic.Uint64
	refused     atomic.Uint64
	active      atomic.Int64
	messages    [maxMessageType + 1]atomic.Uint64
	reasons     [numReasons]atomic.Uint64
	rcodes      [16]atomic.Uint64
}

// Snapshot is a copy of the counters at one moment, for metrics.
type Snapshot struct {
	Frames      uint64 // data frames read
	Records     uint64 // COF records produced
	Connections uint64 // connections accepted
	Refused     uint64 // connections closed at once: over MaxConnections
	Active      int64  // connections open now
	// Messages counts converted or skipped messages by dnstap type name
	// ("RESOLVER_RESPONSE"); an unknown type is "TYPE<n>".
	Messages map[string]uint64
	// Malformed counts malformed frames and DNS messages by reason.
	Malformed map[string]uint64
	// SkippedMessages counts messages that gave no record, by reason.
	SkippedMessages map[string]uint64
	// SkippedRRs counts RRs (and over-long RRsets) left out, by reason.
	SkippedRRs map[string]uint64
	// Negative counts responses with a non-zero RCODE by its name
	// ("NXDOMAIN"): COF cannot carry them, so they are only counted.
	Negative map[string]uint64
}

// Snapshot returns the counters; maps hold only non-zero entries.
func (s *Stats) Snapshot() Snapshot {
	out := Snapshot{
		Frames:          s.frames.Load(),
		Records:         s.records.Load(),
		Connections:     s.connections.Load(),
		Refused:         s.refused.Load(),
		Active:          s.active.Load(),
		Messages:        map[string]uint64{},
		Malformed:       map[string]uint64{},
		SkippedMessages: map[string]uint64{},
		SkippedRRs:      map[string]uint64{},
		Negative:        map[string]uint64{},
	}
	for t := range s.messages {
		if n := s.messages[t].Load(); n > 0 {
			out.Messages[typeName(tap.Message_Type(t))] = n
		}
	}
	for r := Reason(1); r < numReasons; r++ {
		n := s.reasons[r].Load()
		switch {
		case n == 0:
		case r < SkipQuery:
			out.Malformed[r.String()] = n
		case r.perRR():
			out.SkippedRRs[r.String()] = n
		default:
			out.SkippedMessages[r.String()] = n
		}
	}
	for rc := range s.rcodes {
		if n := s.rcodes[rc].Load(); n > 0 {
			out.Negative[rcodeName(rc)] = n
		}
	}
	return out
}

func (s *Stats) count(r Reason) { s.reasons[r].Add(1) }

func (s *Stats) message(t tap.Message_Type) {
	if t < 0 || t > maxMessageType {
		t = 0
	}
	s.messages[t].Add(1)
}

func typeName(t tap.Message_Type) string {
	if n, ok := tap.Message_Type_name[int32(t)]; ok {
		return n
	}
	return "TYPE" + strconv.Itoa(int(t))
}

var rcodeNames = [16]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
	"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}

func rcodeName(rc int) string {
	if rc < len(rcodeNames) && rcodeNames[rc] != "" {
		return rcodeNames[rc]
	}
	return "RCODE" + strconv.Itoa(rc)
}
