package cof

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

func (l rdataLayout) carriesNames() bool { return l.names != 0 }

// CarriesNames reports whether rdata of type t holds domain names
// (NS, CNAME, MX, SRV, SOA, SVCB, NAPTR and the others of RFC 1035 and
// later that name hosts or zones).
func CarriesNames(t Type) bool { return layoutOf(t).carriesNames() }

// Extra rrtypes, by number (IANA registry), for the table below.
const (
	typeMD      Type = 3
	typeMF      Type = 4
	typeMB      Type = 7
	typeMG      Type = 8
	typeMR      Type = 9
	typeMINFO   Type = 14
	typeRP      Type = 17
	typeAFSDB   Type = 18
	typeRT      Type = 21
	typeNSAPPTR Type = 23
	typeSIG     Type = 24
	typePX      Type = 26
	typeNAPTR   Type = 35
	typeKX      Type = 36
	typeRRSIG   Type = 46
	typeNSEC    Type = 47
	typeTALINK  Type = 58
	typeSVCB    Type = 64
	typeHTTPS   Type = 65
	typeLP      Type = 107
)

// layouts is indexed by rrtype; every type carrying names is below 128.
var layouts = func() (t [128]rdataLayout) {
	name := rdataLayout{names: 1, min: 1, max: 1}              // the whole rdata is a name
	prefName := rdataLayout{names: 2, nums: 1, min: 2, max: 2} // preference, name
	for _, typ := range []Type{TypeNS, TypeCNAME, TypePTR, TypeDNAME, typeMD, typeMF, typeMB, typeMG, typeMR, typeNSAPPTR} {
		t[typ] = name
	}
	for _, typ := range []Type{TypeMX, typeAFSDB, typeRT, typeKX, typeLP} {
		t[typ] = prefName
	}
	t[TypeSOA] = rdataLayout{names: 3, min: 2}                     // mname rname serial refresh retry expire minimum
	t[typeMINFO] = rdataLayout{names: 3, min: 2, max: 2}           // rmailbx emailbx
	t[typeRP] = rdataLayout{names: 3, min: 2, max: 2}              // mbox-dname txt-dname
	t[typeTALINK] = rdataLayout{names: 3, min: 2, max: 2}          // previous next
	t[typePX] = rdataLayout{names: 6, nums: 1, min: 3, max: 3}     // preference map822 mapx400
	t[TypeSRV] = rdataLayout{names: 8, nums: 7, min: 4, max: 4}    // priority weight port target
	t[typeNAPTR] = rdataLayout{names: 32, nums: 3, min: 6, max: 6} // order preference flags service regexp replacement
	t[typeSVCB] = rdataLayout{names: 2, nums: 1, min: 2}           // priority target params...
	t[typeHTTPS] = t[typeSVCB]
	t[typeNSEC] = rdataLayout{names: 1, min: 1}       // next-domain types...
	t[typeRRSIG] = rdataLayout{names: 1 << 7, min: 9} // covered alg labels ttl expiry inception tag signer signature
	t[typeSIG] = t[typeRRSIG]
	return t
}()

// layoutOf returns the rdata layout of a type; the zero layout carries no
// names.
func layoutOf(t Type) rdataLayout {
	if int(t) < len(layouts) {
		return layouts[t]
	}
	return rdataLayout{}
}

// maxPresentedName bounds a name in presentation form: 253 octets, each
// at most 4 bytes (\DDD), and the dots between up to 127 labels and a
// trailing one.
const maxPresentedName = 4*maxNameOctets + 128

// NameSpan locates one domain name in an rdata string: s[Start:End] as
// sent (any letter case, escapes, trailing dot), and its canonical form
// canon[CStart:CEnd], the form Parse gives rrname.
type NameSpan struct{ Start, End, CStart, CEnd int }

// AppendRDataNames appends to names the domain names of one rdata string of
// type t, in field order, and their canonical forms to canon. ok is false
// when t carries names and s does not parse as its rdata: a field missing
// or too many, a number that is not one, an unterminated quote or escape,
// a name that is quoted or is no DNS name (one Parse would refuse as
// rrname). The root,
// which MX, SRV, SVCB and NAPTR use for "none" or "the owner", is left
// out: it names nothing a filter or a hash could act on. Callers
// treat that conservatively (the policy package does). With room in
// names and canon, and ASCII names, it does not allocate.
func AppendRDataNames(names []NameSpan, canon []byte, t Type, s string) (_ []NameSpan, _ []byte, ok bool) {
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
			// appendName reads bytes; a copy on the stack spares the
			// conversion's allocation. A name in presentation form
			// is at most 4 bytes an octet (\DDD) plus its dots.
			var tmp [maxPresentedName]byte
			if end-start > len(tmp) {
				return names, canon, false
			}
			n := copy(tmp[:], s[start:end])
			var reason string
			if canon, reason = appendName(canon, tmp[:n]); reason != "" {
				return names, canon, false
			}
			if len(canon) == c+1 && canon[c] == '.' {
				canon = canon[:c] // the root: "none" or "the owner", no name
				continue
			}
			names = append(names, NameSpan{start, end, c, len(canon)})
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

// RDataNames returns the canonical domain names in one rdata string of
// type t (none for a type that carries none), as AppendRDataNames finds
// them; ok is false when the rdata does not parse as its type's.
func RDataNames(t Type, rdata string) (names []string, ok bool) {
	var nb [4]NameSpan
	spans, canon, ok := AppendRDataNames(nb[:0], nil, t, rdata)
	if !ok {
		return nil, false
	}
	for _, n := range spans {
		names = append(names, string(canon[n.CStart:n.CEnd]))
	}
	return names, true
}
