package policy

import (
	"github.com/cofswitch/cofswitch/cof"
)

// rdataLayout says where the domain names stand in one rrtype's
// presentation-format rdata: which whitespace-separated fields are names
// and which must be unsigned 16-bit numbers. The numbers are checked
// because they fix the names' positions: "mx.example. 10" must not pass
// for an MX whose exchanger is "10".
type rdataLayout struct {
	names uint16 // bit i: field i is a domain name
	nums  uint16 // bit i: field i is a 0..65535 number
	// min and max bound the number of fields; max 0 means no bound
	// (SOA timers, SVCB parameters, NSEC type bitmaps, RRSIG signatures).
	min, max uint8
}

// carriesNames reports whether the type has domain names in its rdata.
func (l rdataLayout) carriesNames() bool { return l.names != 0 }

// Extra rrtypes, by number (IANA registry), for the table below.
const (
	typeMD      cof.Type = 3
	typeMF      cof.Type = 4
	typeMB      cof.Type = 7
	typeMG      cof.Type = 8
	typeMR      cof.Type = 9
	typeMINFO   cof.Type = 14
	typeRP      cof.Type = 17
	typeAFSDB   cof.Type = 18
	typeRT      cof.Type = 21
	typeNSAPPTR cof.Type = 23
	typeSIG     cof.Type = 24
	typePX      cof.Type = 26
	typeNAPTR   cof.Type = 35
	typeKX      cof.Type = 36
	typeRRSIG   cof.Type = 46
	typeNSEC    cof.Type = 47
	typeTALINK  cof.Type = 58
	typeSVCB    cof.Type = 64
	typeHTTPS   cof.Type = 65
	typeLP      cof.Type = 107
)

// layouts is indexed by rrtype; every type carrying names is below 128.
var layouts = func() (t [128]rdataLayout) {
	name := rdataLayout{names: 1, min: 1, max: 1}              // the whole rdata is a name
	prefName := rdataLayout{names: 2, nums: 1, min: 2, max: 2} // preference, name
	for _, typ := range []cof.Type{cof.TypeNS, cof.TypeCNAME, cof.TypePTR, cof.TypeDNAME, typeMD, typeMF, typeMB, typeMG, typeMR, typeNSAPPTR} {
		t[typ] = name
	}
	for _, typ := range []cof.Type{cof.TypeMX, typeAFSDB, typeRT, typeKX, typeLP} {
		t[typ] = prefName
	}
	t[cof.TypeSOA] = rdataLayout{names: 3, min: 2}                  // mname rname serial refresh retry expire minimum
	t[typeMINFO] = rdataLayout{names: 3, min: 2, max: 2}            // rmailbx emailbx
	t[typeRP] = rdataLayout{names: 3, min: 2, max: 2}               // mbox-dname txt-dname
	t[typeTALINK] = rdataLayout{names: 3, min: 2, max: 2}           // previous next
	t[typePX] = rdataLayout{names: 6, nums: 1, min: 3, max: 3}      // preference map822 mapx400
	t[cof.TypeSRV] = rdataLayout{names: 8, nums: 7, min: 4, max: 4} // priority weight port target
	t[typeNAPTR] = rdataLayout{names: 32, nums: 3, min: 6, max: 6}  // order preference flags service regexp replacement
	t[typeSVCB] = rdataLayout{names: 2, nums: 1, min: 2}            // priority target params...
	t[typeHTTPS] = t[typeSVCB]
	t[typeNSEC] = rdataLayout{names: 1, min: 1}       // next-domain types...
	t[typeRRSIG] = rdataLayout{names: 1 << 7, min: 9} // covered alg labels ttl expiry inception tag signer signature
	t[typeSIG] = t[typeRRSIG]
	return t
}()

// layoutOf returns the rdata layout of a type; the zero layout carries no
// names.
func layoutOf(t cof.Type) rdataLayout {
	if int(t) < len(layouts) {
		return layouts[t]
	}
	return rdataLayout{}
}

// rdataName is one domain name in an rdata string: s[start:end] as sent
// (any letter case, escapes, trailing dot), and its canonical form
// canon[cstart:cend], as cof normalises rrname.
type rdataName struct{ start, end, cstart, cend int }

// rdataNames appends to names the domain names of one rdata string of
// type t, in field order, and their canonical forms to canon. ok is false
// when t carries names and s does not parse as its rdata: a field missing
// or too many, a number that is not one, an unterminated quote or escape,
// a name that is quoted or is no DNS name (see canonicalName). The root,
// which MX, SRV, SVCB and NAPTR use for "none" or "the owner", is left
// out: it names nothing a filter or a hash could act on. Callers
// treat that conservatively (see zoneFilter and labelHasher). With room in
// names and canon, and ASCII names, it does not allocate.
func rdataNames(names []rdataName, canon []byte, t cof.Type, s string) (_ []rdataName, _ []byte, ok bool) {
	l := layoutOf(t)
	if !l.carriesNames() {
		return names, canon, true
	}
	field, i := 0, 0
	for ; ; field++ {
		start, end, quoted, good := nextField(s, i)
		if !good {
			return names, canon, false
		}
		if start == end {
			break // no more fields
		}
		i = end
		bit := uint16(1) << min(field, 15)
		switch {
		case field < 16 && l.names&bit != 0:
			c := len(canon)
			if quoted {
				return names, canon, false
			}
			if canon, ok = canonicalName(canon, s[start:end]); !ok {
				return names, canon, false
			}
			if len(canon) == c+1 && canon[c] == '.' {
				canon = canon[:c] // the root: "none" or "the owner", no name
				continue
			}
			names = append(names, rdataName{start, end, c, len(canon)})
		case field < 16 && l.nums&bit != 0:
			if quoted || !isUint16(s[start:end]) {
				return names, canon, false
			}
		}
	}
	if field < int(l.min) || l.max != 0 && field > int(l.max) {
		return names, canon, false
	}
	return names, canon, true
}

// nextField finds the field starting at or after s[i]: s[start:end] is
// the field (quotes included when quoted). start == end at the end of s.
// ok is false for an unterminated quoted string, a dangling backslash or
// a quote followed by anything but a separator.
func nextField(s string, i int) (start, end int, quoted, ok bool) {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start = i
	if i == len(s) {
		return i, i, false, true
	}
	if s[i] == '"' {
		for i++; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				if i+1 < len(s) && !isSpace(s[i+1]) {
					return start, i + 1, true, false
				}
				return start, i + 1, true, true
			}
		}
		return start, len(s), true, false
	}
	for ; i < len(s) && !isSpace(s[i]); i++ {
		if s[i] == '\\' {
			if i+1 == len(s) {
				return start, i, false, false
			}
			i++
		}
	}
	return start, i, false, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isUint16(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v <= 0xffff
}

// DNS name limits (RFC 1035 §2.3.4), as cof applies them to rrname:
// octets per label, and octets of a name in presentation form without
// the trailing dot.
const (
	maxLabelOctets = 63
	maxNameOctets  = 253
)

// canonicalName appends to dst the canonical form of a name in
// presentation form, the form cof gives rrname and bailiwick: lower
// case, no trailing dot (the root stays "."), each octet written one way
// ("\065" and "a" are both "a"; '.' and '\' escaped, other bytes outside
// printable ASCII as \DDD). ok is false for what cof would refuse as
// rrname: an empty label, a label over 63 octets, a name over 253, a bad
// escape. Names with non-ASCII bytes (IDN) take cof's own, slower path.
func canonicalName(dst []byte, name string) (_ []byte, ok bool) {
	if name == "." {
		return append(dst, '.'), true
	}
	orig := name
	if n := len(name); n > 0 && name[n-1] == '.' && !escapedAt(name, n-1) {
		name = name[:n-1]
	}
	start := len(dst)
	label, total, labels := 0, 0, 1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return dst[:start], false
			}
			labels++
			label = 0
			dst = append(dst, '.')
			continue
		case c >= 0x80 || c == '\\' && i+1 < len(name) && name[i+1] >= 0x80:
			return appendIDNName(dst[:start], orig)
		case c == '\\':
			v, n := unescape(name[i+1:])
			if n == 0 {
				return dst[:start], false
			}
			dst = appendOctet(dst, v)
			i += n
		default:
			dst = appendOctet(dst, c)
		}
		label++
		total++
		if label > maxLabelOctets {
			return dst[:start], false
		}
	}
	if label == 0 || total+labels-1 > maxNameOctets {
		return dst[:start], false
	}
	return dst, true
}

// unescape reads what follows a backslash: \DDD (a decimal octet up to
// 255) or one literal byte. n is how many bytes it used, 0 for a bad
// escape.
func unescape(s string) (v byte, n int) {
	if len(s) == 0 {
		return 0, 0
	}
	if !isDigit(s[0]) {
		return s[0], 1
	}
	if len(s) < 3 || !isDigit(s[1]) || !isDigit(s[2]) {
		return 0, 0
	}
	d := int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	if d > 255 {
		return 0, 0
	}
	return byte(d), 3
}

// appendIDNName is the slow path for names with non-ASCII bytes: cof
// converts U-labels to A-labels (UTS #46) exactly as it does for rrname.
func appendIDNName(dst []byte, name string) ([]byte, bool) {
	c, err := canonicalZone(name)
	if err != nil {
		return dst, false
	}
	return append(dst, c...), true
}

// appendOctet writes one label octet as cof does: letters in lower case,
// '.' and '\' escaped, other printable ASCII as itself, the rest \DDD.
func appendOctet(dst []byte, c byte) []byte {
	switch {
	case c == '.' || c == '\\':
		return append(dst, '\\', c)
	case c <= ' ' || c >= 0x7f:
		return append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
	case 'A' <= c && c <= 'Z':
		return append(dst, c+('a'-'A'))
	}
	return append(dst, c)
}

// escapedAt reports whether s[i] follows an odd number of backslashes.
func escapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
