package tenant_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hookflash/hookflash/tenant"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, tenant.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newSealer(t *testing.T, key []byte) *tenant.Sealer {
	t.Helper()
	s, err := tenant.NewSealer(key)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := newSealer(t, newKey(t))
	aad := []byte("pbx/acme.example/pbx1/ari_password")
	for _, pt := range []string{"", "s3cret", strings.Repeat("x", 4096), "ünïcødé"} {
		sealed, err := s.Seal([]byte(pt), aad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if pt != "" && bytes.Contains(sealed, []byte(pt)) {
			t.Errorf("sealed value contains the plaintext %q", pt)
		}
		got, err := s.Open(sealed, aad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if string(got) != pt {
			t.Errorf("round trip: got %q, want %q", got, pt)
		}
	}
	// A fresh nonce per value: sealing the same plaintext twice differs.
	a, _ := s.Seal([]byte("same"), aad)
	b, _ := s.Seal([]byte("same"), aad)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are identical; nonce reused")
	}
}

func TestSealerRejects(t *testing.T) {
	key := newKey(t)
	s := newSealer(t, key)
	aad := []byte("pbx/acme.example/pbx1/ami_secret")
	sealed, err := s.Seal([]byte("s3cret"), aad)
	if err != nil {
		t.Fatal(err)
	}
	other := newSealer(t, newKey(t))

	tests := []struct {
		name   string
		sealer *tenant.Sealer
		value  []byte
		aad    []byte
	}{
		{"wrong key", other, sealed, aad},
		{"other aad", s, sealed, []byte("pbx/evil.example/pbx1/ami_secret")},
		{"truncated", s, sealed[:len(sealed)-1], aad},
		{"too short", s, sealed[:5], aad},
		{"empty", s, nil, aad},
		{"unknown version", s, append([]byte{9}, sealed[1:]...), aad},
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		tests = append(tests, struct {
			name   string
			sealer *tenant.Sealer
			value  []byte
			aad    []byte
		}{fmt.Sprintf("flipped byte %d", i), s, tampered, aad})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.sealer.Open(tt.value, tt.aad)
			if !errors.Is(err, tenant.ErrDecrypt) {
				t.Fatalf("Open = %q, %v; want ErrDecrypt", pt, err)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := tenant.NewSealer(make([]byte, n)); !errors.Is(err, tenant.ErrInvalid) {
			t.Errorf("NewSealer(%d bytes) = %v; want ErrInvalid", n, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := newKey(t)
	good := map[string]string{
		"hex":            hex.EncodeToString(key),
		"hex upper":      strings.ToUpper(hex.EncodeToString(key)),
		"hex spaces":     "  " + hex.EncodeToString(key) + "\n",
		"base64 std":     base64.StdEncoding.EncodeToString(key),
		"base64 raw std": base64.RawStdEncoding.EncodeToString(key),
		"base64 url":     base64.URLEncoding.EncodeToString(key),
		"base64 raw url": base64.RawURLEncoding.EncodeToString(key),
	}
	for name, s := range good {
		t.Run(name, func(t *testing.T) {
			got, err := tenant.ParseKey(s)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Fatalf("ParseKey decoded %x, want %x", got, key)
			}
		})
	}
	bad := map[string]string{
		"empty":          "",
		"short hex":      hex.EncodeToString(key[:16]),
		"long base64":    base64.StdEncoding.EncodeToString(append(key, 1)),
		"not encoded":    "correct horse battery staple!!",
		"hex with junk":  hex.EncodeToString(key)[:62] + "zz",
		"passphrase-ish": "hunter2",
	}
	for name, s := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := tenant.ParseKey(s)
			if !errors.Is(err, tenant.ErrInvalid) {
				t.Fatalf("ParseKey(%q) = %v; want ErrInvalid", s, err)
			}
			if !strings.Contains(err.Error(), "openssl rand -hex 32") {
				t.Errorf("error %q does not say how to generate a key", err)
			}
			if len(s) > 4 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q echoes the key", err)
			}
		})
	}
}
