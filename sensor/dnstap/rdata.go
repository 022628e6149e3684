package dnstap

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// appendRData appends the presentation form (RFC 1035 §5.1) of the rdata
// at msg[h.rdStart:h.rdEnd]: what stands right of the type in a master
// file. The common types are written here, with names in the canonical
// form appendName gives; every other type is unpacked and printed by
// miekg/dns, with its names in lower case and without the trailing dot.
func appendRData(dst, msg []byte, h rrHeader) ([]byte, Reason) {
	start, end := h.rdStart, h.rdEnd
	rd := msg[start:end]
	msg = msg[:end] // names inside rdata may point back, never past it
	switch h.typ {
	case dns.TypeA:
		if len(rd) != 4 {
			return dst, ReasonDNSRData
		}
		return netip.AddrFrom4([4]byte(rd)).AppendTo(dst), 0
	case dns.TypeAAAA:
		if len(rd) != 16 {
			return dst, ReasonDNSRData
		}
		return netip.AddrFrom16([16]byte(rd)).AppendTo(dst), 0
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR, dns.TypeDNAME,
		dns.TypeMB, dns.TypeMD, dns.TypeMF, dns.TypeMG, dns.TypeMR:
		return appendNames(dst, msg, start, 0, 1)
	case dns.TypeMX:
		return appendNames(dst, msg, start, 1, 1)
	case dns.TypeSRV:
		return appendNames(dst, msg, start, 3, 1)
	case dns.TypeSOA:
		return appendSOA(dst, msg, start)
	case dns.TypeTXT, dns.TypeSPF:
		if len(rd) == 0 {
			return append(dst, `\# 0`...), 0
		}
		return appendCharStrings(dst, rd)
	}
	return appendGeneric(dst, msg, h)
}

// appendNames writes the 16-bit numbers that lead the rdata at msg[off:]
// (nums of them), then names names, all separated by spaces; they must
// fill the rdata exactly.
func appendNames(dst, msg []byte, off, nums, names int) ([]byte, Reason) {
	start := len(dst)
	if off+2*nums > len(msg) {
		return dst, ReasonDNSRData
	}
	for i := 0; i < nums; i++ {
		dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint16(msg[off:])), 10)
		dst = append(dst, ' ')
		off += 2
	}
	for i := 0; i < names; i++ {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var r Reason
		if dst, off, r = appendName(dst, msg, off); r != 0 {
			return dst[:start], rdataReason(r)
		}
	}
	if off != len(msg) {
		return dst[:start], ReasonDNSRData
	}
	return dst, 0
}

// rdataReason reports a name that runs past its rdata as bad rdata.
func rdataReason(r Reason) Reason {
	if r == ReasonDNSTruncated {
		return ReasonDNSRData
	}
	return r
}

// appendSOA writes "mname rname serial refresh retry expire minimum"
// (RFC 1035 §3.3.13).
func appendSOA(dst, msg []byte, off int) ([]byte, Reason) {
	start := len(dst)
	var r Reason
	for i := 0; i < 2; i++ {
		if dst, off, r = appendName(dst, msg, off); r != 0 {
			return dst[:start], rdataReason(r)
		}
		dst = append(dst, ' ')
	}
	if off+20 != len(msg) {
		return dst[:start], ReasonDNSRData
	}
	for i := 0; i < 5; i++ {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(msg[off+4*i:])), 10)
	}
	return dst, 0
}

// appendCharStrings writes TXT data as master files quote it (RFC 1035
// §5.1): each character-string in double quotes, separated by a space,
// with '"' and '\\' escaped by a backslash and bytes outside printable
// ASCII as \DDD, as miekg/dns prints them.
func appendCharStrings(dst, rd []byte) ([]byte, Reason) {
	start := len(dst)
	for off := 0; off < len(rd); {
		n := int(rd[off])
		if off+1+n > len(rd) {
			return dst[:start], ReasonDNSRData
		}
		if off > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, '"')
		for _, c := range rd[off+1 : off+1+n] {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < ' ' || c > '~':
				dst = append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
			default:
				dst = append(dst, c)
			}
		}
		dst = append(dst, '"')
		off += 1 + n
	}
	return dst, 0
}

// appendGeneric unpacks the rdata with miekg/dns and writes what its
// String method prints after the header; empty rdata is written in the
// RFC 3597 form "\# 0", which every type accepts.
func appendGeneric(dst, msg []byte, h rrHeader) ([]byte, Reason) {
	if h.rdEnd == h.rdStart {
		return append(dst, `\# 0`...), 0
	}
	hdr := dns.RR_Header{Name: ".", Rrtype: h.typ, Class: dns.ClassINET, Rdlength: uint16(h.rdEnd - h.rdStart)}
	rr, end, err := dns.UnpackRRWithHeader(hdr, msg, h.rdStart)
	if err != nil || end != h.rdEnd || rr == nil {
		return dst, ReasonDNSRData
	}
	lowerNames(rr)
	// The header prints as name, TTL, class and type, each followed by a
	// tab; the header's name is "." and no name prints a tab unescaped.
	s := rr.String()
	for range 4 {
		i := strings.IndexByte(s, '\t')
		if i < 0 {
			return dst, ReasonDNSRData
		}
		s = s[i+1:]
	}
	if s == "" {
		return dst, ReasonDNSRData
	}
	return append(dst, s...), 0
}

// nameTags are the miekg/dns struct tags of fields that hold domain names.
var nameTags = map[string]bool{"domain-name": true, "cdomain-name": true, "ipsechost": true, "amtrelayhost": true}

// nameFields caches, per RR struct type, the index paths of its name
// fields (the header's name excluded).
var nameFields sync.Map // reflect.Type -> [][]int

// lowerNames rewrites the names in rr's data in lower case and without the
// trailing dot, as cof writes names. miekg/dns escapes the octets of a
// name itself (a space as "\ "), which is left as it is.
func lowerNames(rr dns.RR) {
	v := reflect.ValueOf(rr)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return
	}
	v = v.Elem()
	for _, path := range fieldsOf(v.Type()) {
		f := v.FieldByIndex(path)
		switch f.Kind() {
		case reflect.String:
			f.SetString(lowerName(f.String()))
		case reflect.Slice:
			for i := 0; i < f.Len(); i++ {
				f.Index(i).SetString(lowerName(f.Index(i).String()))
			}
		}
	}
}

func fieldsOf(t reflect.Type) [][]int {
	if p, ok := nameFields.Load(t); ok {
		return p.([][]int)
	}
	var paths [][]int
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			path := append(append([]int(nil), prefix...), i)
			switch {
			case f.Type == reflect.TypeFor[dns.RR_Header]():
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(f.Type, path)
			case !f.IsExported() || !nameTags[f.Tag.Get("dns")]:
			case f.Type.Kind() == reflect.String,
				f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
				paths = append(paths, path)
			}
		}
	}
	walk(t, nil)
	nameFields.Store(t, paths)
	return paths
}

// lowerName lowers ASCII letters (an escape in a miekg/dns name is never a
// letter) and drops an unescaped trailing dot; the root stays ".".
func lowerName(s string) string {
	if n := len(s); n > 1 && s[n-1] == '.' {
		bs := 0
		for j := n - 2; j >= 0 && s[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			s = s[:n-1]
		}
	}
	return strings.ToLower(s)
}
