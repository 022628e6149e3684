package dnstap

import "encoding/binary"

// DNS wire format (RFC 1035 §4.1). Every read is bounds-checked: a message
// that ends early or points outside itself is malformed, never a panic.

const (
	headerLen   = 12
	rrFixedLen  = 10  // type, class, ttl, rdlength
	maxWireName = 255 // octets of a name on the wire (RFC 1035 §2.3.4)
	maxPointers = 127 // compression pointers followed in one name
)

// header is the fixed part of a DNS message (RFC 1035 §4.1.1).
type header struct {
	flags          uint16
	qd, an, ns, ar int
}

func parseHeader(msg []byte) (header, bool) {
	if len(msg) < headerLen {
		return header{}, false
	}
	return header{
		flags: binary.BigEndian.Uint16(msg[2:]),
		qd:    int(binary.BigEndian.Uint16(msg[4:])),
		an:    int(binary.BigEndian.Uint16(msg[6:])),
		ns:    int(binary.BigEndian.Uint16(msg[8:])),
		ar:    int(binary.BigEndian.Uint16(msg[10:])),
	}, true
}

func (h header) response() bool { return h.flags&0x8000 != 0 }
func (h header) opcode() int    { return int(h.flags>>11) & 0xf }
func (h header) truncated() bool {
	return h.flags&0x0200 != 0
}
func (h header) rcode() int { return int(h.flags & 0xf) }

// rrHeader is the fixed part of one resource record, with where its
// rdata lies in the message.
type rrHeader struct {
	typ, class uint16
	rdStart    int
	rdEnd      int
}

// readRR reads the type, class and rdata bounds of the RR whose fixed part
// starts at off (just after the owner name).
func readRR(msg []byte, off int) (rrHeader, Reason) {
	if off+rrFixedLen > len(msg) {
		return rrHeader{}, ReasonDNSTruncated
	}
	h := rrHeader{
		typ:     binary.BigEndian.Uint16(msg[off:]),
		class:   binary.BigEndian.Uint16(msg[off+2:]),
		rdStart: off + rrFixedLen,
	}
	h.rdEnd = h.rdStart + int(binary.BigEndian.Uint16(msg[off+8:]))
	if h.rdEnd > len(msg) {
		return rrHeader{}, ReasonDNSTruncated
	}
	return h, 0
}

// appendName reads the name at msg[off:], following compression pointers
// (RFC 1035 §4.1.4), and appends its canonical presentation form to dst:
// lower case, no trailing dot, the root as ".", and each octet as
// appendOctet writes it, which is the form cof.Parse gives rrname. It
// returns the offset just past the name where it stands. On a bad name dst
// is returned as it was, with the reason.
func appendName(dst, msg []byte, off int) ([]byte, int, Reason) {
	start, end := len(dst), -1
	wire, jumps := 1, 0
	for {
		if off >= len(msg) {
			return dst[:start], 0, ReasonDNSTruncated
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = off + 1
				}
				if len(dst) == start {
					dst = append(dst, '.')
				}
				return dst, end, 0
			}
			if off+1+c > len(msg) {
				return dst[:start], 0, ReasonDNSTruncated
			}
			if wire += 1 + c; wire > maxWireName {
				return dst[:start], 0, ReasonDNSName
			}
			if len(dst) > start {
				dst = append(dst, '.')
			}
			for _, b := range msg[off+1 : off+1+c] {
				dst = appendOctet(dst, b)
			}
			off += 1 + c
		case 0xc0:
			if off+1 >= len(msg) {
				return dst[:start], 0, ReasonDNSTruncated
			}
			if end < 0 {
				end = off + 2
			}
			if jumps++; jumps > maxPointers {
				return dst[:start], 0, ReasonDNSName
			}
			off = (c&0x3f)<<8 | int(msg[off+1])
		default: // 0x40 and 0x80: extended label types (RFC 6891 §5)
			return dst[:start], 0, ReasonDNSName
		}
	}
}

// skipName returns the offset just past the name at msg[off:] without
// following pointers; the name is not checked beyond its bounds.
func skipName(msg []byte, off int) (int, Reason) {
	for {
		if off >= len(msg) {
			return 0, ReasonDNSTruncated
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				return off + 1, 0
			}
			off += 1 + c
		case 0xc0:
			if off+2 > len(msg) {
				return 0, ReasonDNSTruncated
			}
			return off + 2, 0
		default:
			return 0, ReasonDNSName
		}
	}
}

// appendOctet writes one label octet the way cof writes names: letters in
// lower case, '.' and '\\' escaped with a backslash, other printable ASCII
// as itself, everything else (space and control bytes, and octets of 0x7f
// and above) as \DDD.
func appendOctet(dst []byte, c byte) []byte {
	switch {
	case c == '.' || c == '\\':
		return append(dst, '\\', c)
	case c <= ' ' || c >= 0x7f:
		return append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
	case 'A' <= c && c <= 'Z':
		return append(dst, c+'a'-'A')
	}
	return append(dst, c)
}

// inZone reports whether name is zone or below it; both are canonical
// presentation names, so a label boundary is an unescaped dot.
func inZone(name, zone []byte) bool {
	if len(zone) == 1 && zone[0] == '.' {
		return true
	}
	if len(name) < len(zone) || string(name[len(name)-len(zone):]) != string(zone) {
		return false
	}
	if len(name) == len(zone) {
		return true
	}
	dot := len(name) - len(zone) - 1
	if name[dot] != '.' {
		return false
	}
	n := 0 // an odd run of backslashes before the dot escapes it
	for j := dot - 1; j >= 0 && name[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}
