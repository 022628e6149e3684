package cof

import (
	"strconv"

	"github.com/miekg/dns"
)

// Type is a DNS resource record type number (IANA "Resource Record (RR)
// TYPEs" registry).
type Type uint16

// Types seen most often in passive DNS, named for readability at call sites.
const (
	TypeA     Type = 1
	TypeNS    Type = 2
	TypeCNAME Type = 5
	TypeSOA   Type = 6
	TypePTR   Type = 12
	TypeMX    Type = 15
	TypeTXT   Type = 16
	TypeAAAA  Type = 28
	TypeSRV   Type = 33
	TypeDNAME Type = 39
)

// String returns the IANA mnemonic, or the RFC 3597 form "TYPE65280" for a
// type without one.
func (t Type) String() string {
	switch t {
	case TypeA:
		return "A"
	case TypeAAAA:
		return "AAAA"
	case TypeCNAME:
		return "CNAME"
	case TypeNS:
		return "NS"
	}
	if s, ok := mnemonic(t); ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// mnemonic looks t up in the IANA table that miekg/dns maintains. The
// pseudo-entries "None" (0) and "Reserved" (65535) are not mnemonics.
func mnemonic(t Type) (string, bool) {
	if t == 0 || t == 65535 {
		return "", false
	}
	s, ok := dns.TypeToString[uint16(t)]
	return s, ok
}

// ParseType reads a mnemonic in any letter case ("aaaa") or the RFC 3597
// form ("TYPE28"). Type 0 is reserved and rejected.
func ParseType(s string) (Type, bool) {
	switch s {
	case "A":
		return TypeA, true
	case "AAAA":
		return TypeAAAA, true
	case "CNAME":
		return TypeCNAME, true
	case "NS":
		return TypeNS, true
	}
	var buf [16]byte
	if len(s) == 0 || len(s) > len(buf) {
		return 0, false
	}
	up := buf[:len(s)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if len(up) > 4 && string(up[:4]) == "TYPE" {
		digits := up[4:]
		if digits[0] == '0' { // no leading zeros: one spelling per type
			return 0, false
		}
		n, err := strconv.ParseUint(string(digits), 10, 16)
		if err != nil || n == 0 {
			return 0, false
		}
		return Type(n), true
	}
	if n, ok := dns.StringToType[string(up)]; ok && n != 0 && n != 65535 {
		return Type(n), true
	}
	return 0, false
}
