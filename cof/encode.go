package cof

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends r as one canonical COF JSON object, without a line
// end. Fields come in a fixed order (rrname, rrtype, rdata, time_first,
// time_last, time_first_ms, time_last_ms, zone_time_first, zone_time_last,
// count, bailiwick, sensor_id, origin) followed by the additional fields as
// they were received. Times and counts are integers, rrtype a string and
// rdata an array, which is what dnsdbq, MISP's cof2misp and the pdns-qof
// JSON schema require.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"rrname":`...)
	dst = appendString(dst, r.RRName)
	dst = append(dst, `,"rrtype":`...)
	dst = appendString(dst, r.RRType.String())
	dst = append(dst, `,"rdata":[`...)
	for i, v := range r.RData {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v)
	}
	dst = append(dst, `],"time_first":`...)
	dst = strconv.AppendInt(dst, r.TimeFirst, 10)
	dst = append(dst, `,"time_last":`...)
	dst = strconv.AppendInt(dst, r.TimeLast, 10)
	if r.Has&HasTimeFirstMS != 0 {
		dst = append(dst, `,"time_first_ms":`...)
		dst = strconv.AppendInt(dst, r.TimeFirstMS, 10)
	}
	if r.Has&HasTimeLastMS != 0 {
		dst = append(dst, `,"time_last_ms":`...)
		dst = strconv.AppendInt(dst, r.TimeLastMS, 10)
	}
	if r.Has&HasZoneTimes != 0 {
		dst = append(dst, `,"zone_time_first":`...)
		dst = strconv.AppendInt(dst, r.ZoneTimeFirst, 10)
		dst = append(dst, `,"zone_time_last":`...)
		dst = strconv.AppendInt(dst, r.ZoneTimeLast, 10)
	}
	if r.Has&HasCount != 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, r.Count, 10)
	}
	if r.Bailiwick != "" {
		dst = append(dst, `,"bailiwick":`...)
		dst = appendString(dst, r.Bailiwick)
	}
	if r.SensorID != "" {
		dst = append(dst, `,"sensor_id":`...)
		dst = appendString(dst, r.SensorID)
	}
	if r.Origin != "" {
		dst = append(dst, `,"origin":`...)
		dst = appendString(dst, r.Origin)
	}
	for _, f := range r.Extra {
		dst = append(dst, ',')
		if f.Key != "" {
			dst = append(dst, f.Key...)
		} else {
			dst = appendString(dst, f.Name)
		}
		dst = append(dst, ':')
		dst = append(dst, f.Value...)
	}
	return append(dst, '}')
}

// AppendLine appends r as one NDJSON line, newline included.
func (r *Record) AppendLine(dst []byte) []byte {
	return append(r.AppendJSON(dst), '\n')
}

// appendString writes s as a JSON string. Only what RFC 8259 requires is
// escaped; invalid UTF-8 (which Parse never produces) becomes U+FFFD so the
// output is always valid JSON.
// plainJSON marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash. One load per byte is what makes
// encoding cheap.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainJSON[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaped as AppendJSON does.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }
