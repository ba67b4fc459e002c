package tenant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the length of a Sealer key: AES-256.
const KeySize = 32

// sealVersion prefixes every sealed value, so the format (or the key) can
// change later without guessing.
const sealVersion byte = 1

// Sealer encrypts secrets at rest with AES-256-GCM. Every Seal draws a
// fresh random 96-bit nonce; a sealed value is version || nonce ||
// ciphertext || tag. The associated data binds a value to its place (for
// example tenant, PBX and field), so a ciphertext copied to another row
// does not open. A Sealer is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD // read-only after NewSealer
}

// NewSealer returns a Sealer for a 32-byte key (see ParseKey).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: secret key must be %d bytes, got %d", ErrInvalid, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// ParseKey decodes a secret key given as 64 hexadecimal characters or as
// base64 (standard or URL alphabet, padded or not) of 32 bytes. Surrounding
// spaces are ignored. The error never echoes the key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errKeyFormat("is empty")
	}
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != KeySize {
			return nil, errKeyFormat(fmt.Sprintf("decodes to %d bytes, want %d", len(b), KeySize))
		}
		return b, nil
	}
	return nil, errKeyFormat("is neither 64 hex characters nor base64")
}

func errKeyFormat(why string) error {
	return fmt.Errorf("%w: secret key %s; generate one with `openssl rand -hex 32`", ErrInvalid, why)
}

// Seal encrypts plaintext bound to aad and returns a new slice.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, aad), nil
}

// Open decrypts a value made by Seal with the same aad. A wrong key,
// different aad, truncation or any changed byte yields ErrDecrypt.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("open: %w (value too short)", ErrDecrypt)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("open: %w (unknown format version %d)", ErrDecrypt, sealed[0])
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil { // the cause says no more than "authentication failed"
		return nil, fmt.Errorf("open: %w", ErrDecrypt)
	}
	return pt, nil
}
