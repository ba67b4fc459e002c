package authz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fastParams keep tests quick; production uses DefaultPasswordParams.
var fastParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHasher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, err := NewPasswordHasher(PasswordConfig{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC string %q", enc)
	}
	if enc2, _ := h.Hash(ctx, "correct horse"); enc2 == enc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	if ok, rehash, err := h.Verify(ctx, "correct horse", enc); !ok || rehash || err != nil {
		t.Fatalf("Verify(right) = %v %v %v", ok, rehash, err)
	}
	if ok, _, err := h.Verify(ctx, "correct horsE", enc); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v %v", ok, err)
	}
	// A hasher with stronger parameters accepts the old hash and asks
	// for an upgrade.
	h2, _ := NewPasswordHasher(PasswordConfig{Params: PasswordParams{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if ok, rehash, err := h2.Verify(ctx, "correct horse", enc); !ok || !rehash || err != nil {
		t.Fatalf("upgrade hint: %v %v %v", ok, rehash, err)
	}
	if _, err := h.Hash(ctx, strings.Repeat("x", MaxPasswordLen+1)); !errors.Is(err, ErrPasswordTooLong) {
		t.Fatalf("long password: %v", err)
	}
	if err := h.VerifyUnknown(ctx, "whatever"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$c2hvcnQ",
	} {
		if _, _, err := h.Verify(ctx, "x", bad); !errors.Is(err, ErrInvalidPasswordHash) {
			t.Errorf("Verify with stored %q: err = %v", bad, err)
		}
	}
	if _, err := NewPasswordHasher(PasswordConfig{Params: PasswordParams{Memory: 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}); err == nil {
		t.Fatal("out-of-bounds parameters accepted")
	}
}

func TestPasswordHasherConcurrencyCap(t *testing.T) {
	t.Parallel()
	h, err := NewPasswordHasher(PasswordConfig{Params: fastParams, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with no free slot: %v", err)
	}
	<-h.sem
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkPasswordVerifyDefault(b *testing.B) {
	ctx := context.Background()
	h, err := NewPasswordHasher(PasswordConfig{})
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := h.Hash(ctx, "correct horse")
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify(ctx, "correct horse", enc); !ok {
			b.Fatal("no match")
		}
	}
}
