package authz

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CredentialSource says where a credential came from.
type CredentialSource int

const (
	SourceBearer CredentialSource = iota + 1 // Authorization: Bearer <token>
	SourceBasic                              // Authorization: Basic base64(domain:token)
	SourceQuery                              // ?token=<token>
)

func (s CredentialSource) String() string {
	switch s {
	case SourceBearer:
		return "bearer"
	case SourceBasic:
		return "basic"
	case SourceQuery:
		return "query"
	}
	return "none"
}

// Credentials is what a request presented.
type Credentials struct {
	Token string
	// Domain is the tenant named by Basic domain:token (lower-cased), or
	// "" when none was given. The caller must check that the token
	// belongs to it.
	Domain string
	Source CredentialSource
	Kind   TokenKind
}

// String describes the credentials without the secret (fmt's %v and %+v
// use it), so logging them by mistake leaks nothing.
func (c Credentials) String() string {
	shown := ""
	if c.Kind != TokenOther && len(c.Token) >= TokenDisplayLen {
		shown = c.Token[:TokenDisplayLen] + "…"
	}
	return fmt.Sprintf("{%s %s token=%q domain=%q}", c.Source, c.Kind, shown, c.Domain)
}

// LogValue renders the credentials for log/slog without the secret.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

const (
	maxAuthHeaderLen = 4096
	// MaxTokenLen bounds any accepted credential string.
	MaxTokenLen = 512
)

// ParseCredentials extracts the credentials of a request from its
// Authorization header and its token query parameter (already URL-decoded).
// Accepted: "Bearer <token>", "Basic base64(<domain>:<token>)" (Basix
// style, what browsers send for wss://domain:token@host/…; the domain may
// be empty) and ?token=<token>. Schemes are case-insensitive. Giving both a
// header and a query token is accepted only when they carry the same token.
//
// Tokens are 1 to MaxTokenLen visible ASCII characters; one with a
// Hookflash prefix must also pass ParseTokenKind. Errors: ErrNoCredentials
// when nothing was given, ErrMalformedCredentials or ErrMalformedToken
// otherwise. The returned error never contains the token.
func ParseCredentials(authHeader, queryToken string) (Credentials, error) {
	var c Credentials
	h := strings.Trim(authHeader, " \t")
	switch {
	case h == "" && queryToken == "":
		return c, ErrNoCredentials
	case h == "":
		c = Credentials{Token: queryToken, Source: SourceQuery}
	default:
		var err error
		if c, err = parseAuthHeader(h); err != nil {
			return Credentials{}, err
		}
		if queryToken != "" && !EqualSecret(queryToken, c.Token) {
			return Credentials{}, fmt.Errorf("%w: different tokens in the Authorization header and the query", ErrMalformedCredentials)
		}
	}
	if err := checkTokenChars(c.Token); err != nil {
		return Credentials{}, err
	}
	kind, err := ParseTokenKind(c.Token)
	if err != nil {
		return Credentials{}, err
	}
	c.Kind = kind
	return c, nil
}

func parseAuthHeader(h string) (Credentials, error) {
	if len(h) > maxAuthHeaderLen {
		return Credentials{}, fmt.Errorf("%w: Authorization header longer than %d bytes", ErrMalformedCredentials, maxAuthHeaderLen)
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return Credentials{}, fmt.Errorf("%w: Authorization header needs a scheme and a value", ErrMalformedCredentials)
	}
	rest = strings.Trim(rest, " \t")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return Credentials{Token: rest, Source: SourceBearer}, nil
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(rest)
		}
		if err != nil {
			return Credentials{}, fmt.Errorf("%w: Basic credentials are not base64", ErrMalformedCredentials)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return Credentials{}, fmt.Errorf("%w: Basic credentials must be domain:token", ErrMalformedCredentials)
		}
		c := Credentials{Token: pass, Source: SourceBasic}
		if user != "" {
			d := strings.ToLower(user)
			if err := CheckTenant(d); err != nil {
				return Credentials{}, fmt.Errorf("%w: Basic user is not a domain", ErrMalformedCredentials)
			}
			c.Domain = d
		}
		return c, nil
	}
	return Credentials{}, fmt.Errorf("%w: unsupported Authorization scheme (use Bearer or Basic)", ErrMalformedCredentials)
}

func checkTokenChars(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty token", ErrMalformedCredentials)
	}
	if len(t) > MaxTokenLen {
		return fmt.Errorf("%w: token longer than %d characters", ErrMalformedCredentials, MaxTokenLen)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return fmt.Errorf("%w: token holds a character that is not visible ASCII", ErrMalformedCredentials)
		}
	}
	return nil
}

// Login is a normalised login name: the one principal a user is, however
// they typed it.
type Login struct {
	Domain string // lower-case tenant domain
	// Name is the lower-case username, or the extension when Extension.
	Name string
	// Extension: Name is all digits. Look the user up by extension (main
	// extension) first, then by username.
	Extension bool
}

// Key returns a string identifying the principal within its domain, for
// rate limiting and caches: "ext:<digits>" or "user:<name>".
func (l Login) Key() string {
	if l.Extension {
		return "ext:" + l.Name
	}
	return "user:" + l.Name
}

const maxLoginNameLen = 64

// NormalizeLogin turns what a user typed ("Alice", "alice@acme.example",
// "1001") and the domain of the login request (may be empty when input
// carries it) into one Login. The domain in input, if any, must agree
// with domain. Names are trimmed and lower-cased and may hold letters,
// digits, '.', '_', '-' and '+'. Errors: ErrInvalidLogin, ErrInvalidTenant.
func NormalizeLogin(input, domain string) (Login, error) {
	name := strings.TrimSpace(input)
	dom := strings.ToLower(strings.TrimSpace(domain))
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		d := strings.ToLower(name[i+1:])
		name = name[:i]
		if dom != "" && d != dom {
			return Login{}, fmt.Errorf("%w: the name is for domain %q, the login for %q", ErrInvalidLogin, d, dom)
		}
		dom = d
	}
	if dom == "" {
		return Login{}, fmt.Errorf("%w: no domain given", ErrInvalidLogin)
	}
	if err := CheckTenant(dom); err != nil {
		return Login{}, err
	}
	if len(name) > 4*maxLoginNameLen || !utf8.ValidString(name) {
		return Login{}, fmt.Errorf("%w: a name is 1 to %d bytes of UTF-8", ErrInvalidLogin, maxLoginNameLen)
	}
	name = strings.ToLower(name)
	if name == "" || len(name) > maxLoginNameLen {
		return Login{}, fmt.Errorf("%w: a name is 1 to %d bytes of UTF-8", ErrInvalidLogin, maxLoginNameLen)
	}
	digits := true
	for _, r := range name {
		if r < '0' || r > '9' {
			digits = false
		}
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-+", r)) {
			return Login{}, fmt.Errorf("%w: %q is not allowed in a name", ErrInvalidLogin, r)
		}
	}
	return Login{Domain: dom, Name: name, Extension: digits}, nil
}
