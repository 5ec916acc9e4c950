package elevation

import (
	"crypto/rand"
	"time"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRequestID returns a ULID: 48 bits of milliseconds and 80 random bits in
// Crockford base32, 26 characters. It sorts by time, fits AWS's
// RoleSessionName charset and length with room for a prefix, and is unique
// per grant.
func NewRequestID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	var out [26]byte
	// 128 bits → 26 base32 digits, most significant first (the top 2 bits
	// of the first digit are always zero).
	var acc uint64
	bits := 0
	j := 0
	// Prepend two zero bits so 130 bits divide evenly into 26 digits.
	acc, bits = 0, 2
	for _, x := range b {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = crockford[(acc>>uint(bits))&31]
			j++
		}
	}
	return string(out[:j])
}
