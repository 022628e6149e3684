package db

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// The disk store's key spaces, by first byte. An rrset's primary key
// sorts by reversed owner name, so that exact and left-hand wildcard name
// lookups are range scans of the rrsets themselves; the indexes are keys
// without values, each ending with the primary key it points at.
const (
	spaceRRset   = 's' // s rev(name) term type(2) sha256(rdata set)[:16] -> rrset
	spaceName    = 'n' // n name term pk: right-hand wildcards on owner names
	spaceRName   = 'd' // d rev(rdata name) term pk: exact and left-hand wildcards
	spaceRNameFw = 'e' // e rdata name term pk: right-hand wildcards on rdata names
	spaceValue   = 'x' // x value term pk: rdata values stored verbatim
	spaceAddr    = 'i' // i addr(16) pk: addresses of A and AAAA
	spaceApplied = 'a' // a stream term seq(8): a batch applied above the floor
	spaceFloor   = 'f' // f stream: every sequence up to this one is applied
	spaceSketch  = 'h' // h r | h q sensor: distinct rrsets, all and by sensor (sketch.go)
	spaceMeta    = 'm' // m what: the store's format
)

// rdataHashLen is how much of the keyed hash of an rrset's rdata set its
// key keeps: all of it (16 bytes).
const rdataHashLen = 16

// appendEscaped appends s so that its encodings sort as s does and none
// is a prefix of another's unless s is: 0x00 becomes 0x00 0xff and the
// end is 0x00 0x01 (appendTerm). A prefix scan leaves the end out.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(append(dst, s[:i]...), 0, 0xff)
		s = s[i+1:]
	}
}

func appendTerm(dst []byte) []byte { return append(dst, 0, 1) }

// readEscaped reads an escaped string up to its end mark, and returns it
// and what follows the mark. Without escapes inside, the string is a
// slice of b (no copy).
func readEscaped(b []byte) ([]byte, []byte, bool) {
	var out []byte
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return nil, nil, false
		}
		switch b[i+1] {
		case 1:
			if out == nil {
				return b[:i], b[i+2:], true
			}
			return append(out, b[:i]...), b[i+2:], true
		case 0xff:
			out = append(append(out, b[:i]...), 0)
			b = b[i+2:]
		default:
			return nil, nil, false
		}
	}
}

// rrsetKey is the primary key of an rrset: its reversed owner name, its
// type, and the keyed hash of its rdata set.
func rrsetKey(dst []byte, s *RRset, h *keyedHash) []byte {
	dst = append(dst, spaceRRset)
	dst = appendTerm(appendReversed(dst, s.RRName))
	dst = binary.BigEndian.AppendUint16(dst, uint16(s.RRType))
	sum := h.rdataSum(s.RData)
	return append(dst, sum[:rdataHashLen]...)
}

// appendReversed appends reverseName(name), escaped (appendEscaped),
// without building it first: this runs for every record ingested.
func appendReversed(dst []byte, name string) []byte {
	var cuts [130]int // unescaped dots; a name has at most 127 labels
	n := 0
	for i := 0; i < len(name) && n < len(cuts)-1; i++ {
		switch name[i] {
		case '\\':
			i++
		case '.':
			cuts[n] = i
			n++
		}
	}
	if n == len(cuts)-1 { // not a name cof takes: the slow way
		return appendEscaped(dst, reverseName(name))
	}
	end := len(name)
	for k := n - 1; k >= 0; k-- {
		dst = append(appendEscaped(dst, name[cuts[k]+1:end]), '.')
		end = cuts[k]
	}
	return appendEscaped(dst, name[:end])
}

// keyType reads the type from a primary key.
func keyType(pk []byte) cof.Type {
	if len(pk) < 2+rdataHashLen {
		return 0
	}
	return cof.Type(binary.BigEndian.Uint16(pk[len(pk)-2-rdataHashLen:]))
}

// parseRRsetKey reads the owner name and type back from a primary key.
func parseRRsetKey(k []byte) (name string, t cof.Type, ok bool) {
	if len(k) < 1 || k[0] != spaceRRset {
		return "", 0, false
	}
	rev, rest, ok := readEscaped(k[1:])
	if !ok || len(rest) != 2+rdataHashLen {
		return "", 0, false
	}
	return reverseName(string(rev)), cof.Type(binary.BigEndian.Uint16(rest)), true
}

// nameScan is the primary key range of the rrsets of one owner name
// (typ 0: of any type).
func nameScan(name string, typ cof.Type) []byte {
	k := appendTerm(appendEscaped([]byte{spaceRRset}, reverseName(name)))
	if typ != 0 {
		k = binary.BigEndian.AppendUint16(k, uint16(typ))
	}
	return k
}

// indexKey is an index entry: space, the escaped value, its end, the
// primary key.
func indexKey(dst []byte, space byte, v string, pk []byte) []byte {
	dst = append(dst, space)
	return append(appendTerm(appendEscaped(dst, v)), pk...)
}

// splitIndexKey returns an index entry's value and primary key, both
// slices of k.
func splitIndexKey(k []byte) ([]byte, []byte, bool) {
	if len(k) < 1 {
		return nil, nil, false
	}
	return readEscaped(k[1:])
}

func addrKey(dst []byte, a netip.Addr, pk []byte) []byte {
	b := a.As16()
	return append(append(append(dst, spaceAddr), b[:]...), pk...)
}

// prefixEnd returns the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no upper bound
}

func appliedKey(stream string, seq uint64) []byte {
	k := appendTerm(appendEscaped([]byte{spaceApplied}, stream))
	return binary.BigEndian.AppendUint64(k, seq)
}

func floorKey(stream string) []byte {
	return appendEscaped([]byte{spaceFloor}, stream)
}

var (
	rrsetsSketchKey = []byte{spaceSketch, 'r'}
	formatKey       = []byte{spaceMeta, 'f'}
	secretKey       = []byte{spaceMeta, 'k'}
)

func sensorSketchKey(sensor string) []byte {
	return appendTerm(appendEscaped([]byte{spaceSketch, 'q'}, sensor))
}
