package authz

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNewAPIToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		secret, hash, display, err := NewAPIToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) != TokenLen || !strings.HasPrefix(secret, "hfk_") || display != secret[:TokenDisplayLen] {
			t.Fatalf("token %q / display %q malformed", secret, display)
		}
		if hash != HashToken(secret) {
			t.Fatal("hash is not the SHA-256 of the secret")
		}
		if k, err := ParseTokenKind(secret); k != TokenAPI || err != nil {
			t.Fatalf("ParseTokenKind(new token) = %v, %v", k, err)
		}
		if seen[secret] {
			t.Fatal("duplicate token")
		}
		seen[secret] = true
	}
	secret, _, _, _ := NewAPIToken()
	// Any single-character change is caught by the checksum or the alphabet.
	for i := 4; i < len(secret); i++ {
		b := []byte(secret)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, err := ParseTokenKind(string(b)); !errors.Is(err, ErrMalformedToken) {
			t.Fatalf("changing character %d went unnoticed", i)
		}
	}
	for _, bad := range []string{secret[:len(secret)-1], secret + "x", "hfk_", "hfs_" + secret[4:]} {
		if _, err := ParseTokenKind(bad); !errors.Is(err, ErrMalformedToken) {
			t.Fatalf("ParseTokenKind(%q) err = %v", bad, err)
		}
	}
	if k, err := ParseTokenKind("operator-bootstrap-secret"); k != TokenOther || err != nil {
		t.Fatalf("foreign token: %v, %v", k, err)
	}
	if !EqualSecret("abc", "abc") || EqualSecret("abc", "abd") || EqualSecret("abc", "abcd") {
		t.Fatal("EqualSecret wrong")
	}
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	tok, _, _, _ := NewAPIToken()
	sess, _ := newToken(SessionTokenPrefix)
	tests := []struct {
		name, header, query string
		want                Credentials
		err                 error
	}{
		{"bearer", "Bearer " + tok, "", Credentials{Token: tok, Source: SourceBearer, Kind: TokenAPI}, nil},
		{"bearer lower case, spaces", "  bearer   " + sess + " ", "", Credentials{Token: sess, Source: SourceBearer, Kind: TokenSession}, nil},
		{"query", "", tok, Credentials{Token: tok, Source: SourceQuery, Kind: TokenAPI}, nil},
		{"basix basic", basic("ACME.example:" + tok), "", Credentials{Token: tok, Domain: "acme.example", Source: SourceBasic, Kind: TokenAPI}, nil},
		{"basic unpadded", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("acme.example:"+tok)), "", Credentials{Token: tok, Domain: "acme.example", Source: SourceBasic, Kind: TokenAPI}, nil},
		{"basic without domain", basic(":" + tok), "", Credentials{Token: tok, Source: SourceBasic, Kind: TokenAPI}, nil},
		{"same in header and query", "Bearer " + tok, tok, Credentials{Token: tok, Source: SourceBearer, Kind: TokenAPI}, nil},
		{"foreign token", "Bearer s3cr3t-admin", "", Credentials{Token: "s3cr3t-admin", Source: SourceBearer, Kind: TokenOther}, nil},
		{"nothing", "", "", Credentials{}, ErrNoCredentials},
		{"blank header", "   ", "", Credentials{}, ErrNoCredentials},
		{"two tokens", "Bearer " + tok, sess, Credentials{}, ErrMalformedCredentials},
		{"no scheme", tok, "", Credentials{}, ErrMalformedCredentials},
		{"digest", "Digest abc", "", Credentials{}, ErrMalformedCredentials},
		{"empty bearer", "Bearer ", "", Credentials{}, ErrMalformedCredentials},
		{"bearer with space", "Bearer a b", "", Credentials{}, ErrMalformedCredentials},
		{"bad base64", "Basic !!!", "", Credentials{}, ErrMalformedCredentials},
		{"basic without colon", basic("acme.example"), "", Credentials{}, ErrMalformedCredentials},
		{"basic bad domain", basic("acme example:" + tok), "", Credentials{}, ErrMalformedCredentials},
		{"basic empty token", basic("acme.example:"), "", Credentials{}, ErrMalformedCredentials},
		{"control char", "", "ab\x00c", Credentials{}, ErrMalformedCredentials},
		{"non-ascii", "", "tökén", Credentials{}, ErrMalformedCredentials},
		{"too long", "", strings.Repeat("a", MaxTokenLen+1), Credentials{}, ErrMalformedCredentials},
		{"huge header", "Bearer " + strings.Repeat("a", 5000), "", Credentials{}, ErrMalformedCredentials},
		{"truncated hookflash token", "Bearer " + tok[:20], "", Credentials{}, ErrMalformedToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(tt.header, tt.query)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), sess) {
					t.Fatal("the error message contains the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			for _, out := range []string{fmt.Sprint(got), fmt.Sprintf("%+v", got), got.LogValue().String()} {
				if strings.Contains(out, got.Token) {
					t.Fatalf("formatting credentials shows the token: %s", out)
				}
			}
		})
	}
}

// FuzzParseCredentials feeds arbitrary header/query pairs: no panic, and
// every accepted credential satisfies the documented invariants.
func FuzzParseCredentials(f *testing.F) {
	tok, _, _, _ := NewAPIToken()
	for _, s := range [][2]string{
		{"Bearer " + tok, ""}, {"", tok}, {basic("acme.example:" + tok), ""}, {basic(":x"), ""},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("a:b:c")), ""}, {"bearer x", "x"},
		{"Digest x", ""}, {"Basic", ""}, {"Bearer hfs_" + strings.Repeat("0", 49), ""}, {"", "\xff\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, header, query string) {
		c, err := ParseCredentials(header, query)
		if err != nil {
			if c != (Credentials{}) {
				t.Fatalf("error %v with non-zero credentials %+v", err, c)
			}
			if !errors.Is(err, ErrNoCredentials) && !errors.Is(err, ErrMalformedCredentials) && !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if c.Token == "" || len(c.Token) > MaxTokenLen {
			t.Fatalf("accepted token of length %d", len(c.Token))
		}
		for i := 0; i < len(c.Token); i++ {
			if c.Token[i] <= ' ' || c.Token[i] > '~' {
				t.Fatalf("accepted token with byte %#x", c.Token[i])
			}
		}
		if c.Domain != "" && CheckTenant(c.Domain) != nil {
			t.Fatalf("accepted domain %q", c.Domain)
		}
		if c.Source == SourceQuery && c.Token != query {
			t.Fatal("query token changed")
		}
		if c.Source == SourceBearer && !strings.Contains(header, c.Token) {
			t.Fatal("bearer token not from the header")
		}
		if k, err := ParseTokenKind(c.Token); err != nil || k != c.Kind {
			t.Fatalf("kind %v but ParseTokenKind = %v, %v", c.Kind, k, err)
		}
		// Re-encoding what was accepted parses to the same credentials.
		again, err := ParseCredentials("Bearer "+c.Token, "")
		if err != nil || again.Token != c.Token || again.Kind != c.Kind {
			t.Fatalf("round trip of %q: %+v, %v", c.Token, again, err)
		}
		if c.Domain != "" {
			b, err := ParseCredentials(basic(c.Domain+":"+c.Token), "")
			if err != nil || b.Domain != c.Domain || b.Token != c.Token {
				t.Fatalf("basic round trip: %+v, %v", b, err)
			}
		}
	})
}

func TestNormalizeLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		input, domain string
		want          Login
		err           error
	}{
		{"alice", "acme.example", Login{"acme.example", "alice", false}, nil},
		{" Alice ", "ACME.example", Login{"acme.example", "alice", false}, nil},
		{"alice@acme.example", "", Login{"acme.example", "alice", false}, nil},
		{"ALICE@Acme.Example", "acme.example", Login{"acme.example", "alice", false}, nil},
		{"1001", "acme.example", Login{"acme.example", "1001", true}, nil},
		{"1001@acme.example", "", Login{"acme.example", "1001", true}, nil},
		{"jean-luc.o+cti", "acme.example", Login{"acme.example", "jean-luc.o+cti", false}, nil},
		{"Ünal", "acme.example", Login{"acme.example", "ünal", false}, nil},
		{"alice@other.example", "acme.example", Login{}, ErrInvalidLogin},
		{"alice", "", Login{}, ErrInvalidLogin},
		{"", "acme.example", Login{}, ErrInvalidLogin},
		{"@acme.example", "", Login{}, ErrInvalidLogin},
		{"al ice", "acme.example", Login{}, ErrInvalidLogin},
		{"a@b@acme.example", "", Login{}, ErrInvalidLogin},
		{"alice", "acme_example", Login{}, ErrInvalidTenant},
		{strings.Repeat("a", 65), "acme.example", Login{}, ErrInvalidLogin},
		{"\xff", "acme.example", Login{}, ErrInvalidLogin},
	}
	for _, tt := range tests {
		got, err := NormalizeLogin(tt.input, tt.domain)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("NormalizeLogin(%q, %q) err = %v, want %v", tt.input, tt.domain, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeLogin(%q, %q) = %+v, %v; want %+v", tt.input, tt.domain, got, err, tt.want)
		}
	}
	// The three ways one user logs in are one principal key.
	a, _ := NormalizeLogin("Alice", "acme.example")
	b, _ := NormalizeLogin("alice@ACME.EXAMPLE", "")
	if a != b || a.Key() != "user:alice" {
		t.Fatalf("%+v != %+v", a, b)
	}
}

// FuzzNormalizeLogin: no panic; accepted logins are normalised (lower
// case, bounded, valid domain) and normalising them again, in either
// spelling, gives the same principal.
func FuzzNormalizeLogin(f *testing.F) {
	for _, s := range [][2]string{{"Alice", "acme.example"}, {"alice@ACME.example", ""}, {"1001", "acme.example"},
		{"a@b@c", "c"}, {"İstanbul", "x.example"}, {"\u212a", "k.example"}, {" x ", " X.EXAMPLE "}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, input, domain string) {
		l, err := NormalizeLogin(input, domain)
		if err != nil {
			return
		}
		if CheckTenant(l.Domain) != nil || l.Name == "" || len(l.Name) > maxLoginNameLen {
			t.Fatalf("accepted %+v", l)
		}
		if strings.ContainsAny(l.Name, "@ \t") {
			t.Fatalf("name %q holds a separator", l.Name)
		}
		again, err := NormalizeLogin(l.Name, l.Domain)
		if err != nil || again != l {
			t.Fatalf("not idempotent: %+v -> %+v, %v", l, again, err)
		}
		joined, err := NormalizeLogin(l.Name+"@"+l.Domain, "")
		if err != nil || joined != l {
			t.Fatalf("name@domain differs: %+v -> %+v, %v", l, joined, err)
		}
	})
}
