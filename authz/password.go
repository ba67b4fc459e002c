package authz

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams follow the OWASP argon2id baseline (19 MiB, 2
// passes, 1 thread): about 20-40 ms per hash on a server core, moderate
// enough to run in small pods.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// MaxPasswordLen bounds a password in bytes.
const MaxPasswordLen = 1024

// Bounds accepted when parsing a stored hash, so a corrupted or planted row
// cannot make verification take gigabytes or minutes.
const (
	maxHashMemory  = 1 << 20 // KiB = 1 GiB
	maxHashTime    = 16
	maxHashThreads = 16
)

// PasswordConfig configures a PasswordHasher.
type PasswordConfig struct {
	// Params for new hashes. Default DefaultPasswordParams.
	Params PasswordParams
	// MaxConcurrent caps hashes computed at once (each holds
	// Params.Memory). Default GOMAXPROCS.
	MaxConcurrent int
}

// PasswordHasher hashes and verifies passwords with argon2id in PHC string
// format ($argon2id$v=19$m=…,t=…,p=…$salt$hash, unpadded base64). At most
// MaxConcurrent computations run at once; the others wait for their turn or
// their context. Safe for concurrent use.
type PasswordHasher struct {
	params PasswordParams
	sem    chan struct{}
	dummy  string // a hash of a random password, verified when a user is unknown
}

// NewPasswordHasher returns a hasher.
func NewPasswordHasher(cfg PasswordConfig) (*PasswordHasher, error) {
	if cfg.Params == (PasswordParams{}) {
		cfg.Params = DefaultPasswordParams
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	p := cfg.Params
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory || p.Time < 1 || p.Time > maxHashTime ||
		p.Threads < 1 || p.Threads > maxHashThreads || p.SaltLen < 8 || p.SaltLen > 64 || p.KeyLen < 16 || p.KeyLen > 64 {
		return nil, fmt.Errorf("authz: password parameters out of bounds: %+v", p)
	}
	h := &PasswordHasher{params: p, sem: make(chan struct{}, cfg.MaxConcurrent)}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	d, err := h.hash(string(pw[:]), p)
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

func (h *PasswordHasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("authz: waiting to hash a password: %w", ctx.Err())
	}
}

func (h *PasswordHasher) release() { <-h.sem }

// Hash returns the PHC string of password with a fresh random salt.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(password, h.params)
}

func (h *PasswordHasher) hash(password string, p PasswordParams) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("authz: random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether password matches the stored PHC string, in
// constant time over the derived key. rehash is true after a match whose
// hash used other parameters than the hasher's: the caller should store a
// fresh Hash. A malformed stored hash returns ErrInvalidPasswordHash.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if len(password) > MaxPasswordLen {
		return false, false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyUnknown spends the time of one verification and reports false. Call
// it when the user does not exist, so response times do not tell which
// usernames exist.
func (h *PasswordHasher) VerifyUnknown(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// parsePHC parses and bounds-checks an argon2id PHC string.
func parsePHC(s string) (PasswordParams, []byte, []byte, error) {
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidPasswordHash, why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported argon2 version")
	}
	var p PasswordParams
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("malformed parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("malformed parameter " + k)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
			seen |= 1
		case "t":
			p.Time = uint32(n)
			seen |= 2
		case "p":
			if n > 255 {
				return bad("too many threads")
			}
			p.Threads = uint8(n)
			seen |= 4
		default:
			return bad("unknown parameter " + k)
		}
	}
	if seen != 7 {
		return bad("missing parameters")
	}
	if p.Threads < 1 || p.Threads > maxHashThreads || p.Time < 1 || p.Time > maxHashTime ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxHashMemory {
		return bad("parameters out of bounds")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("bad salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("bad hash")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
