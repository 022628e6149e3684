package logformat

import (
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// parseUint reads a decimal integer without sign, leading zeros allowed,
// up to max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// epochSeconds reads seconds since the epoch written as a decimal with an
// optional fraction ("1591367999.305988"), and returns the whole seconds.
func epochSeconds(b []byte) (int64, string) {
	i := 0
	for i < len(b) && b[i] != '.' {
		i++
	}
	sec, ok := parseUint(b[:i], cof.MaxTime)
	if !ok {
		return 0, "not a time in seconds since the epoch up to 9999-12-31: " + quote(b)
	}
	if i < len(b) {
		frac := b[i+1:]
		if _, ok := parseUint(frac, 1<<63); !ok {
			return 0, "bad fraction of a second: " + quote(b)
		}
	}
	return int64(sec), ""
}

// parseTimestamp reads a calendar time and returns it in whole seconds
// since the epoch. It takes the forms the formats write:
//
//	2017-11-29T10:27:18.148282+0100       Suricata (%z offset)
//	2020-06-05T14:39:59.305988Z           Zeek JSON, RFC 3339
//	2024-03-01 12:00:00.123456789 +0000 UTC   Go's Time.String (gopassivedns)
//	2011-12-02 19:18:44.408856            passivedns -f H, in loc
//
// A time without an offset is in loc (UTC when loc is nil).
func parseTimestamp(b []byte, loc *time.Location) (int64, string) {
	bad := func() (int64, string) { return 0, "not a timestamp: " + quote(b) }
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') ||
		b[13] != ':' || b[16] != ':' {
		return bad()
	}
	year, ok1 := parseUint(b[0:4], 9999)
	month, ok2 := parseUint(b[5:7], 12)
	day, ok3 := parseUint(b[8:10], 31)
	hour, ok4 := parseUint(b[11:13], 23)
	minute, ok5 := parseUint(b[14:16], 59)
	sec, ok6 := parseUint(b[17:19], 60)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month == 0 || day == 0 ||
		int(day) > daysIn(int(year), int(month)) {
		return bad()
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return bad()
		}
		rest = rest[n:]
	}
	offset, hasZone, ok := parseZone(rest)
	if !ok {
		return bad()
	}
	var t int64
	if hasZone || loc == nil || loc == time.UTC {
		t = daysSinceEpoch(int64(year), int64(month), int64(day))*86400 + int64(hour*3600+minute*60+sec) - offset
	} else {
		t = time.Date(int(year), time.Month(month), int(day), int(hour), int(minute), int(sec), 0, loc).Unix()
	}
	if t < 0 || t > cof.MaxTime {
		return 0, "time before 1970 or after 9999: " + quote(b)
	}
	return t, ""
}

// parseZone reads what follows the seconds: nothing, "Z", "+01:00",
// "+0100", "+01", or Go's " +0000 UTC" (with any trailing words, such as
// a monotonic clock reading). It returns the offset east of UTC in seconds.
func parseZone(b []byte) (offset int64, has, ok bool) {
	if len(b) == 0 {
		return 0, false, true
	}
	if b[0] == ' ' {
		b = b[1:]
		if end := indexByte(b, ' '); end >= 0 {
			b = b[:end] // " +0000 UTC m=+0.1": the name and the rest are redundant
		}
	}
	if len(b) == 1 && (b[0] == 'Z' || b[0] == 'z') {
		return 0, true, true
	}
	if len(b) < 3 || (b[0] != '+' && b[0] != '-') {
		return 0, false, false
	}
	h, okh := parseUint(b[1:3], 23)
	var m uint64
	okm := true
	switch rest := b[3:]; {
	case len(rest) == 0:
	case len(rest) == 2:
		m, okm = parseUint(rest, 59)
	case len(rest) == 3 && rest[0] == ':':
		m, okm = parseUint(rest[1:], 59)
	default:
		okm = false
	}
	if !okh || !okm {
		return 0, false, false
	}
	offset = int64(h*3600 + m*60)
	if b[0] == '-' {
		offset = -offset
	}
	return offset, true, true
}

// daysSinceEpoch counts the days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (the civil-from-days algorithm in reverse).
func daysSinceEpoch(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}
