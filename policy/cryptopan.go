package policy

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"hash/maphash"
	"net/netip"
)

// CryptoPAn is prefix-preserving address anonymisation (Xu, Fan, Ammar,
// Moon: "Prefix-Preserving IP Address Anonymization", 2002): two addresses
// sharing a k-bit prefix map to addresses sharing exactly a k-bit prefix.
// IPv6 uses the same construction over 128 bits. Results are cached, so
// repeated addresses cost a map lookup. Safe for concurrent use.
type CryptoPAn struct {
	block cipher.Block
	pad   [16]byte
	cache *addrCache
}

// NewCryptoPAn takes a 32-byte key: the first 16 bytes key AES-128, the
// last 16 are encrypted to form the pad.
func NewCryptoPAn(key []byte, cacheSize int) (*CryptoPAn, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("Crypto-PAn needs a 32-byte key, got %d bytes", len(key))
	}
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, err
	}
	c := &CryptoPAn{block: block, cache: newAddrCache(cacheSize)}
	block.Encrypt(c.pad[:], key[16:32])
	return c, nil
}

// Anonymize maps an IPv4 or IPv6 address. IPv4-mapped IPv6 addresses are
// mapped as IPv6.
func (c *CryptoPAn) Anonymize(a netip.Addr) netip.Addr {
	if v, ok := c.cache.get(a); ok {
		return v
	}
	v := c.compute(a)
	c.cache.put(a, v)
	return v
}

func (c *CryptoPAn) compute(a netip.Addr) netip.Addr {
	orig := a.As16()
	bits := 128
	var src [16]byte
	if a.Is4() {
		bits = 32
		v4 := a.As4()
		copy(src[:], v4[:])
	} else {
		src = orig
	}
	var otp [16]byte
	var in, out [16]byte
	for pos := 0; pos < bits; pos++ {
		// in = the first pos bits of the address, then the pad's bits.
		for i := 0; i < 16; i++ {
			switch {
			case (i+1)*8 <= pos:
				in[i] = src[i]
			case i*8 >= pos:
				in[i] = c.pad[i]
			default:
				keep := byte(0xff) << (8 - (pos - i*8))
				in[i] = src[i]&keep | c.pad[i]&^keep
			}
		}
		c.block.Encrypt(out[:], in[:])
		otp[pos/8] |= (out[0] >> 7) << (7 - pos%8)
	}
	var res [16]byte
	for i := range res {
		res[i] = src[i] ^ otp[i]
	}
	if bits == 32 {
		return netip.AddrFrom4([4]byte(res[:4]))
	}
	return netip.AddrFrom16(res)
}

type addrCache = memo[netip.Addr, netip.Addr]

func newAddrCache(size int) *addrCache {
	seed := maphash.MakeSeed()
	return newMemo[netip.Addr, netip.Addr](size, func(a netip.Addr) uint64 {
		b := a.As16()
		return maphash.Bytes(seed, b[:])
	})
}

func newStringCache(size int) *memo[string, string] {
	seed := maphash.MakeSeed()
	return newMemo[string, string](size, func(s string) uint64 { return maphash.String(seed, s) })
}
