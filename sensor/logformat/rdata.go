package logformat

import (
	"errors"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/cofswitch/cofswitch/cof"
)

// errPartial says that the rdata a format logged is only a part of the
// record's data (the exchange of an MX, the target of an SRV, the primary
// of an SOA), so that no presentation form can be rebuilt from it. It is
// counted as SkipPartial, never returned.
var errPartial = errors.New("partial rdata")

// errUnmapped says that an answer carries no usable rdata (a meta type,
// or data the format does not log). It is counted as SkipUnmapped.
var errUnmapped = errors.New("unmapped rdata")

// rdataErr builds the error for rdata that does not fit its type; the
// parser adds the format and the field.
func rdataErr(sentinel error, reason string) *Error {
	return &Error{Err: sentinel, Reason: reason}
}

// parseType reads a type as the formats write it: a mnemonic in any case
// ("AAAA"), the RFC 3597 form ("TYPE65"), or a bare number ("65"), which
// passivedns, Suricata and gopassivedns print for types they cannot name.
func parseType(b []byte) (cof.Type, bool) {
	if len(b) > 0 && '0' <= b[0] && b[0] <= '9' {
		n, ok := parseUint(b, 65535)
		return cof.Type(n), ok && n > 0
	}
	return cof.ParseType(string(b))
}

// isMeta reports the types that never hold data in an answer: OPT and the
// query-only types (RFC 6895 §3.1).
func isMeta(t cof.Type) bool {
	return t == 41 || (t >= 249 && t <= 255) || t == 0
}

// appendRData checks text as the presentation of rdata of type t and
// appends its canonical form to dst: addresses in their canonical text,
// names as cof.AppendName writes them, numbers without leading zeros,
// character strings quoted. The address is returned for A and AAAA. On
// failure dst comes back unchanged with errPartial, errUnmapped or an
// *Error without format and field.
func appendRData(dst []byte, t cof.Type, text []byte) ([]byte, netip.Addr, error) {
	text = trimSpace(text)
	if len(text) == 0 {
		return dst, netip.Addr{}, rdataErr(ErrBadRData, "empty")
	}
	switch t {
	case cof.TypeA, cof.TypeAAAA:
		return appendAddr(dst, t, text)
	case cof.TypeCNAME, cof.TypeNS, cof.TypePTR, cof.TypeDNAME:
		out, err := appendRDataName(dst, text)
		return out, netip.Addr{}, err
	case cof.TypeMX:
		return appendFields(dst, text, mxFields[:])
	case cof.TypeSRV:
		return appendFields(dst, text, srvFields[:])
	case cof.TypeSOA:
		return appendFields(dst, text, soaFields[:])
	case cof.TypeTXT, 99: // 99: SPF
		out, err := appendTXT(dst, text)
		return out, netip.Addr{}, err
	}
	if isMeta(t) {
		return dst, netip.Addr{}, errUnmapped
	}
	out, err := appendOpaque(dst, text)
	return out, netip.Addr{}, err
}

// appendAddr checks an A or AAAA address and writes it canonically
// (RFC 5952 for IPv6, as cof.Parse does).
func appendAddr(dst []byte, t cof.Type, text []byte) ([]byte, netip.Addr, error) {
	var a netip.Addr
	var ok bool
	if t == cof.TypeA {
		a, ok = parseIPv4(text)
		if !ok {
			return dst, a, rdataErr(ErrBadRData, quote(text)+" is not an IPv4 address")
		}
	} else {
		var err error
		a, err = netip.ParseAddr(string(text))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return dst, netip.Addr{}, rdataErr(ErrBadRData, quote(text)+" is not an IPv6 address")
		}
	}
	return a.AppendTo(dst), a, nil
}

// parseIPv4 reads a dotted quad without leading zeros, the only form
// cof.Parse accepts, without the string conversion ParseAddr needs.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, digits, val := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || part > 3 {
				return netip.Addr{}, false
			}
			ip[part] = byte(val)
			part, digits, val = part+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || (digits == 1 && val == 0) {
			return netip.Addr{}, false
		}
		val = val*10 + int(c-'0')
		if digits++; val > 255 {
			return netip.Addr{}, false
		}
	}
	if part != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// appendRDataName checks a name in rdata and writes it canonically.
func appendRDataName(dst, text []byte) ([]byte, error) {
	if indexSpace(text) >= 0 {
		return dst, rdataErr(ErrBadRData, quote(text)+" is not one name")
	}
	out, err := cof.AppendName(dst, text)
	if err != nil {
		var ce *cof.Error
		errors.As(err, &ce)
		return dst, rdataErr(ErrBadName, ce.Reason+": "+quote(text))
	}
	return out, nil
}

// rdField is the kind of one field of a structured rdata.
type rdField uint8

const (
	rdUint16 rdField = iota
	rdUint32
	rdName
)

// The fields of the structured types the formats log (RFC 1035 §3.3.9,
// §3.3.13; RFC 2782). Each format that truncates one logs its last name
// field alone, which is how a partial rdata is recognised.
var (
	mxFields  = [...]rdField{rdUint16, rdName}
	srvFields = [...]rdField{rdUint16, rdUint16, rdUint16, rdName}
	soaFields = [...]rdField{rdName, rdName, rdUint32, rdUint32, rdUint32, rdUint32, rdUint32}
)

// appendFields checks rdata made of the given fields, separated by white
// space, and writes them separated by one space. A lone name where more
// fields are due is what the formats log of an MX, SRV or SOA: errPartial.
func appendFields(dst, text []byte, fields []rdField) ([]byte, netip.Addr, error) {
	start := len(dst)
	if indexSpace(text) < 0 && !allDigits(text) {
		if _, err := appendRDataName(dst, text); err == nil {
			return dst[:start], netip.Addr{}, errPartial
		}
	}
	rest := text
	for i, f := range fields {
		rest = trimSpace(rest)
		if len(rest) == 0 {
			return dst[:start], netip.Addr{}, rdataErr(ErrBadRData, quote(text)+": want "+strconv.Itoa(len(fields))+" fields")
		}
		end := indexSpace(rest)
		if end < 0 {
			end = len(rest)
		}
		if i > 0 {
			dst = append(dst, ' ')
		}
		var err error
		if dst, err = appendField(dst, f, rest[:end]); err != nil {
			return dst[:start], netip.Addr{}, err
		}
		rest = rest[end:]
	}
	if len(trimSpace(rest)) > 0 {
		return dst[:start], netip.Addr{}, rdataErr(ErrBadRData, quote(text)+": more than "+strconv.Itoa(len(fields))+" fields")
	}
	return dst, netip.Addr{}, nil
}

func appendField(dst []byte, f rdField, word []byte) ([]byte, error) {
	switch f {
	case rdName:
		return appendRDataName(dst, word)
	case rdUint16, rdUint32:
		max := uint64(65535)
		if f == rdUint32 {
			max = 1<<32 - 1
		}
		n, ok := parseUint(word, max)
		if !ok {
			return dst, rdataErr(ErrBadRData, quote(word)+" is not a number up to "+strconv.FormatUint(max, 10))
		}
		return strconv.AppendUint(dst, n, 10), nil
	}
	return dst, nil
}

// appendOpaque keeps the rdata of the types this package does not
// interpret as the format wrote it, after checking that it is text a COF
// reader can take back unchanged: valid UTF-8 without control characters.
func appendOpaque(dst, text []byte) ([]byte, error) {
	if !utf8.Valid(text) {
		return dst, rdataErr(ErrBadRData, "not valid UTF-8: "+quote(text))
	}
	for _, c := range text {
		if c < 0x20 || c == 0x7f {
			return dst, rdataErr(ErrBadRData, "control character: "+quote(text))
		}
	}
	return append(dst, text...), nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func indexSpace(b []byte) int {
	for i, c := range b {
		if isSpace(c) {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
