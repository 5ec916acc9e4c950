package azure

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
)

// requestNamespace is the UUIDv5 namespace of jit's PIM request names; it
// must never change, or retried requests would get new names.
func requestNamespace() [16]byte {
	return [16]byte{0x5c, 0x3e, 0x5e, 0x32, 0x1a, 0x8d, 0x5b, 0x63, 0x9a, 0x4e, 0x0f, 0x2d, 0x6c, 0x71, 0x84, 0x19}
}

// ActivationName is the PIM request name (a GUID) of the activation for a
// jit request id: a name-based UUID (version 5), so that a retried PUT of
// the same elevation names the same request and cannot activate twice.
func ActivationName(requestID string) string {
	return uuid5(requestNamespace(), "activate:"+requestID)
}

func uuid5(ns [16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

// newRequestName is a random (version 4) GUID, for requests that must be
// new each time (a deactivation after an earlier refused one).
func newRequestName() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read does not fail on supported platforms
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
