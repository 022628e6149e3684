package dnstap

import (
	tap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/encoding/protowire"
)

// Message is the part of one dnstap message (dnstap.proto, message
// Message) that a passive DNS record can carry. The addresses, ports,
// identity, version and extra fields are never read, so no client or
// server address can reach a record.
type Message struct {
	Type         tap.Message_Type // AUTH_RESPONSE, RESOLVER_RESPONSE, ...
	QueryTime    Time             // query_time_sec, query_time_nsec
	ResponseTime Time             // response_time_sec, response_time_nsec
	// QueryZone is query_zone: the wire-format name of the zone the
	// query was sent to (the bailiwick); nil when absent.
	QueryZone []byte
	// ResponseMessage is response_message: the wire-format DNS response.
	ResponseMessage []byte
}

// Time is a dnstap time: seconds since the epoch and the nanoseconds of
// the second, each with whether it was present.
type Time struct {
	Sec     uint64
	Nsec    uint32
	HasSec  bool
	HasNsec bool
}

// Field numbers from dnstap.proto.
const (
	fieldDnstapMessage = 14
	fieldDnstapType    = 15
	dnstapTypeMessage  = 1

	fieldType         = 1
	fieldQueryTimeSec = 8
	fieldQueryNsec    = 9
	fieldQueryZone    = 11
	fieldRespTimeSec  = 12
	fieldRespNsec     = 13
	fieldRespMessage  = 14
)

// Unmarshal reads one Frame Streams data frame, a protobuf dnstap.Dnstap
// message, into m without copying: m's slices point into frame. It returns
// an *Error (ReasonProtobuf) when the frame is no dnstap message.
func (m *Message) Unmarshal(frame []byte) error {
	*m = Message{}
	var inner []byte
	var typ uint64
	hasType, hasMsg := false, false
	for b := frame; len(b) > 0; {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(ReasonProtobuf, "bad tag")
		}
		b = b[n:]
		switch {
		case num == fieldDnstapType && wt == protowire.VarintType:
			typ, n = protowire.ConsumeVarint(b)
			hasType = true
		case num == fieldDnstapMessage && wt == protowire.BytesType:
			inner, n = protowire.ConsumeBytes(b)
			hasMsg = true
		default:
			n = protowire.ConsumeFieldValue(num, wt, b)
		}
		if n < 0 {
			return malformed(ReasonProtobuf, "bad field value")
		}
		b = b[n:]
	}
	if !hasType || typ != dnstapTypeMessage || !hasMsg {
		return malformed(ReasonProtobuf, "not a dnstap MESSAGE")
	}
	return m.unmarshalMessage(inner)
}

func (m *Message) unmarshalMessage(b []byte) error {
	hasType := false
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(ReasonProtobuf, "bad tag in message")
		}
		b = b[n:]
		var v uint64
		switch {
		case num == fieldType && wt == protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
			m.Type, hasType = tap.Message_Type(int32(v)), true
		case num == fieldQueryTimeSec && wt == protowire.VarintType:
			m.QueryTime.Sec, n = protowire.ConsumeVarint(b)
			m.QueryTime.HasSec = true
		case num == fieldRespTimeSec && wt == protowire.VarintType:
			m.ResponseTime.Sec, n = protowire.ConsumeVarint(b)
			m.ResponseTime.HasSec = true
		case num == fieldQueryNsec && wt == protowire.Fixed32Type:
			m.QueryTime.Nsec, n = protowire.ConsumeFixed32(b)
			m.QueryTime.HasNsec = true
		case num == fieldRespNsec && wt == protowire.Fixed32Type:
			m.ResponseTime.Nsec, n = protowire.ConsumeFixed32(b)
			m.ResponseTime.HasNsec = true
		case num == fieldQueryZone && wt == protowire.BytesType:
			m.QueryZone, n = protowire.ConsumeBytes(b)
		case num == fieldRespMessage && wt == protowire.BytesType:
			m.ResponseMessage, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, wt, b)
		}
		if n < 0 {
			return malformed(ReasonProtobuf, "bad field value in message")
		}
		b = b[n:]
	}
	if !hasType {
		return malformed(ReasonProtobuf, "message without type")
	}
	return nil
}

// FromDnstap takes the fields Message holds from a message decoded by
// github.com/dnstap/golang-dnstap; the slices are shared, not copied.
func FromDnstap(d *tap.Message) Message {
	m := Message{
		Type:            d.GetType(),
		QueryZone:       d.GetQueryZone(),
		ResponseMessage: d.GetResponseMessage(),
	}
	if d.QueryTimeSec != nil {
		m.QueryTime.Sec, m.QueryTime.HasSec = *d.QueryTimeSec, true
	}
	if d.QueryTimeNsec != nil {
		m.QueryTime.Nsec, m.QueryTime.HasNsec = *d.QueryTimeNsec, true
	}
	if d.ResponseTimeSec != nil {
		m.ResponseTime.Sec, m.ResponseTime.HasSec = *d.ResponseTimeSec, true
	}
	if d.ResponseTimeNsec != nil {
		m.ResponseTime.Nsec, m.ResponseTime.HasNsec = *d.ResponseTimeNsec, true
	}
	return m
}
