package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Token formats. A Hookflash token is a kind prefix, 43 base62 characters
// carrying 256 random bits, and 6 base62 characters of CRC-32 over the
// prefix and body (so a mistyped or truncated token is refused without a
// store lookup, and secret scanners can recognise leaked tokens):
//
//	hfk_<43 base62><6 base62>   integrator API token
//	hfs_<43 base62><6 base62>   user session token
//
// Only the SHA-256 of a token is stored (HashToken).
const (
	APITokenPrefix     = "hfk_"
	SessionTokenPrefix = "hfs_"

	tokenBodyLen  = 43 // ceil(256 / log2(62))
	tokenCheckLen = 6  // 62^6 > 2^32
	// TokenLen is the length of every Hookflash token.
	TokenLen = 4 + tokenBodyLen + tokenCheckLen
	// TokenDisplayLen is how much of a token may be shown in lists
	// (tenant.Token.Prefix): the kind and 8 body characters.
	TokenDisplayLen = 12
)

// TokenKind says what a credential string is.
type TokenKind int

const (
	// TokenOther is not a Hookflash token (e.g. the operator's bootstrap
	// admin token from HOOKFLASH_ADMIN_TOKEN).
	TokenOther TokenKind = iota
	TokenAPI
	TokenSession
)

func (k TokenKind) String() string {
	switch k {
	case TokenAPI:
		return "api"
	case TokenSession:
		return "session"
	}
	return "other"
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendBase62 appends n as exactly width base62 digits.
func appendBase62(dst []byte, n *big.Int, width int) []byte {
	out := make([]byte, width)
	v := new(big.Int).Set(n)
	r := new(big.Int)
	b62 := big.NewInt(62)
	for i := width - 1; i >= 0; i-- {
		v.DivMod(v, b62, r)
		out[i] = base62[r.Int64()]
	}
	return append(dst, out...)
}

func tokenChecksum(prefixAndBody string) []byte {
	c := crc32.ChecksumIEEE([]byte(prefixAndBody))
	return appendBase62(nil, new(big.Int).SetUint64(uint64(c)), tokenCheckLen)
}

// newToken returns a fresh token with the given kind prefix.
func newToken(prefix string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("authz: random token: %w", err)
	}
	b := make([]byte, 0, TokenLen)
	b = append(b, prefix...)
	b = appendBase62(b, new(big.Int).SetBytes(raw[:]), tokenBodyLen)
	b = append(b, tokenChecksum(string(b))...)
	return string(b), nil
}

// NewAPIToken returns a fresh integrator token: the secret (show it once),
// its SHA-256 (store it) and its display prefix (store it for lists).
func NewAPIToken() (secret string, hash [32]byte, display string, err error) {
	secret, err = newToken(APITokenPrefix)
	if err != nil {
		return "", hash, "", err
	}
	return secret, HashToken(secret), secret[:TokenDisplayLen], nil
}

// HashToken returns the SHA-256 of a token: the value stored and looked up.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// ParseTokenKind classifies a credential string. A string with a Hookflash
// prefix must be well-formed with a matching checksum, else it returns
// ErrMalformedToken; any other string is TokenOther.
func ParseTokenKind(s string) (TokenKind, error) {
	var kind TokenKind
	switch {
	case strings.HasPrefix(s, APITokenPrefix):
		kind = TokenAPI
	case strings.HasPrefix(s, SessionTokenPrefix):
		kind = TokenSession
	default:
		return TokenOther, nil
	}
	if len(s) != TokenLen {
		return kind, fmt.Errorf("%w: a %s token has %d characters, got %d", ErrMalformedToken, kind, TokenLen, len(s))
	}
	for i := 4; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return kind, fmt.Errorf("%w: character %d is not base62", ErrMalformedToken, i+1)
		}
	}
	body := s[:TokenLen-tokenCheckLen]
	if subtle.ConstantTimeCompare(tokenChecksum(body), []byte(s[len(body):])) != 1 {
		return kind, fmt.Errorf("%w: checksum mismatch", ErrMalformedToken)
	}
	return kind, nil
}

// EqualSecret compares two secrets in time independent of their content
// and length (it compares their SHA-256). Use it for secrets compared in
// memory, such as the bootstrap admin token; stored tokens are found by
// hash instead.
func EqualSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
