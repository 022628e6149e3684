package logformat

import (
	"bytes"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// zeekResponse is one dns.log entry as the mapping needs it, from either
// form, with Zeek's \xHH escapes already undone.
type zeekResponse struct {
	when    int64
	query   []byte
	qtype   cof.Type // 0 when unknown
	answers []span   // into buf
	buf     []byte
}

func (r *zeekResponse) reset() {
	r.query, r.answers, r.buf = r.query[:0], r.answers[:0], r.buf[:0]
}

// addAnswer unescapes one answer into the response.
func (r *zeekResponse) addAnswer(escaped []byte) {
	start := len(r.buf)
	r.buf = zeekUnescape(r.buf, escaped)
	r.answers = append(r.answers, span{start, len(r.buf)})
}

// zeekUnescape undoes the \xHH escapes Zeek writes for unprintable bytes
// and separators, in both its TSV and its JSON output.
func zeekUnescape(dst, s []byte) []byte {
	if bytes.IndexByte(s, '\\') < 0 {
		return append(dst, s...) // the common case: nothing escaped
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if h, ok := hexByte(s[i+2], s[i+3]); ok {
				dst = append(dst, h)
				i += 3
				continue
			}
		}
		dst = append(dst, s[i])
	}
	return dst
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := hexNibble(a)
	y, ok2 := hexNibble(b)
	return x<<4 | y, ok1 && ok2
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// zeekLocalPorts are the responder ports of the link-local name services
// Zeek's DNS analyzer also reads: NetBIOS name service, mDNS, LLMNR.
func zeekLocalPort(port []byte) bool {
	switch string(port) {
	case "137", "5353", "5355":
		return true
	}
	return false
}

// zeekMap maps the answers of one response. Zeek logs each answer as one
// string without its owner or type, so both are inferred:
//
//   - an address is an A or AAAA record, by its family;
//   - "TXT n s..." and "SPF n s..." are TXT and SPF records, cut by the
//     lengths Zeek writes;
//   - a name is a CNAME, unless the question asked for a type whose data
//     Zeek logs as a bare name: NS and PTR answers are those records (but
//     a PTR answer that is itself a reverse name is the CNAME of RFC 2317
//     classless delegation); for MX, SRV and SOA Zeek logs only a part of
//     the data, and for ANY the type cannot be told, so those names are
//     skipped;
//   - anything else (Zeek's summaries of DNSSEC and other records,
//     "<unknown type=N>") is skipped.
//
// The owner of the first answer is the question's name; a CNAME moves the
// owner of the answers after it to its target, since resolvers send a
// CNAME chain in order.
func (p *base) zeekMap(r *zeekResponse) *Error {
	owner, err := p.b.name(r.query)
	if err != nil {
		return p.answerErr(err, "query")
	}
	var first *Error
	for i, sp := range r.answers {
		a := r.buf[sp.start:sp.end]
		err := p.zeekAnswer(r, &owner, a)
		if err != nil && first == nil {
			first = p.answerErr(err, index("answers", i))
		} else if err != nil {
			p.answerErr(err, "")
		}
	}
	return first
}

// zeekAnswer maps one answer; owner is the current end of the chain.
func (p *base) zeekAnswer(r *zeekResponse, owner *span, a []byte) error {
	rec := pending{owner: *owner, time: r.when}
	switch kind, t := zeekKind(a); {
	case kind == zeekAddr:
		rec.rrtype = t
		var err error
		if rec.rdata, rec.addr, err = p.b.rdata(t, a); err != nil {
			return err
		}
	case kind == zeekTXT:
		rec.rrtype = t
		start := len(p.b.buf)
		out, err := appendZeekTXT(p.b.buf, a[4:])
		if err != nil {
			return err
		}
		p.b.buf = out
		rec.rdata = span{start, len(p.b.buf)}
	case kind == zeekName:
		t, err := zeekNameType(r.qtype, a)
		if err != nil {
			return err
		}
		rec.rrtype = t
		if rec.rdata, _, err = p.b.rdata(t, a); err != nil {
			return err
		}
		if t == cof.TypeCNAME {
			*owner = rec.rdata
		}
	default:
		return errUnmapped
	}
	p.b.add(rec)
	return nil
}

// Kinds of Zeek answer strings.
const (
	zeekOther = iota
	zeekAddr
	zeekTXT
	zeekName
)

// zeekKind tells what an answer string is, and its type for addresses
// and character strings. A string of digits and dots, or one with a
// colon, is taken for an address even when it is not a valid one, so
// that it is reported as bad rdata rather than taken for a name.
func zeekKind(a []byte) (int, cof.Type) {
	switch {
	case len(a) > 5 && string(a[:4]) == "TXT " && isDigit(a[4]):
		return zeekTXT, cof.TypeTXT
	case len(a) > 5 && string(a[:4]) == "SPF " && isDigit(a[4]):
		return zeekTXT, 99
	case len(a) == 0 || a[0] == '<' || indexSpace(a) >= 0:
		return zeekOther, 0 // summaries: "DNSKEY 8", "<unknown type=99>"
	case onlyBytes(a, "0123456789."):
		return zeekAddr, cof.TypeA
	case bytes.IndexByte(a, ':') >= 0: // summaries with a colon have spaces too
		return zeekAddr, cof.TypeAAAA
	case string(a) == "NSEC3" || string(a) == "NSEC3PARAM":
		return zeekOther, 0
	}
	return zeekName, 0
}

// onlyBytes reports whether every byte of b is in set.
func onlyBytes(b []byte, set string) bool {
	for _, c := range b {
		if strings.IndexByte(set, c) < 0 {
			return false
		}
	}
	return true
}

// zeekNameType decides what a name answer is, from the question's type.
func zeekNameType(qtype cof.Type, name []byte) (cof.Type, error) {
	switch qtype {
	case cof.TypeNS:
		return cof.TypeNS, nil
	case cof.TypePTR:
		if hasSuffixFold(name, "in-addr.arpa") || hasSuffixFold(name, "ip6.arpa") ||
			hasSuffixFold(name, "in-addr.arpa.") || hasSuffixFold(name, "ip6.arpa.") {
			return cof.TypeCNAME, nil
		}
		return cof.TypePTR, nil
	case cof.TypeMX, cof.TypeSRV, cof.TypeSOA:
		return 0, errPartial
	case 0, 255:
		return 0, errUnmapped
	}
	return cof.TypeCNAME, nil
}

func hasSuffixFold(b []byte, suffix string) bool {
	if len(b) < len(suffix) {
		return false
	}
	tail := b[len(b)-len(suffix):]
	for i := range tail {
		if lowerASCII(tail[i]) != suffix[i] {
			return false
		}
	}
	return len(b) == len(suffix) || b[len(b)-len(suffix)-1] == '.'
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// appendZeekTXT reads Zeek's "n s[ TXT n s]..." (the first "TXT " already
// cut) and writes the strings in presentation form. The lengths are those
// of the raw strings, so a string may hold spaces or "TXT ".
func appendZeekTXT(dst, s []byte) ([]byte, error) {
	start := len(dst)
	for n := 0; ; n++ {
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		l, ok := parseUint(s[:i], maxCharString)
		if !ok || i >= len(s) || s[i] != ' ' || len(s) < i+1+int(l) {
			return dst[:start], rdataErr(ErrBadRData, "not Zeek's \"TXT length string\" form")
		}
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = appendCharString(dst, s[i+1:i+1+int(l)])
		s = s[i+1+int(l):]
		if len(s) == 0 {
			return dst, nil
		}
		if len(s) < 6 || (string(s[:5]) != " TXT " && string(s[:5]) != " SPF ") {
			return dst[:start], rdataErr(ErrBadRData, "not Zeek's \"TXT length string\" form")
		}
		s = s[5:]
	}
}
