package tenant

import (
	"crypto/rand"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on stored fields. Both stores enforce them through the Validate
// methods below, so they reject the same inputs.
const (
	maxIDLen       = 64
	maxNameLen     = 200
	maxShortLen    = 254 // usernames, e-mails, roles, terminals, addresses
	maxURLLen      = 2048
	maxPEMLen      = 64 << 10
	maxDetailLen   = 8 << 10
	maxTerminals   = 64
	maxCallUsers   = 256
	maxSecretLen   = 1024
	callLimitDef   = 50
	callLimitMax   = 1000
	auditLimitDef  = 100
	auditLimitMax  = 1000
	defaultARIApp  = "hookflash"
	timePrecision  = time.Microsecond
	randomIDLength = 26 // characters of crypto/rand.Text
)

// NewRecordID returns a fresh random identifier such as "pbx_x4k...",
// kind being the record kind. Stores call it when the caller leaves ID empty.
func NewRecordID(kind string) string {
	return kind + "_" + strings.ToLower(rand.Text())
}

// Now returns the current time at the precision the stores keep
// (microseconds, UTC), so values round-trip through Postgres unchanged.
func Now() time.Time { return Normalize(time.Now()) }

// Normalize truncates t to the stores' precision, in UTC. The zero time
// stays zero.
func Normalize(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(timePrecision)
}

func normalizePtr(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	n := Normalize(*t)
	return &n
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// checkText rejects text that is too long, not UTF-8 or holds control
// characters (except in multi-line fields).
func checkText(field, s string, maxLen int, required, multiline bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is required", field)
	}
	if len(s) > maxLen {
		return invalid("%s is longer than %d bytes", field, maxLen)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return invalid("%s holds a control character", field)
		}
	}
	return nil
}

// checkID accepts the identifiers of records: 1 to 64 of [A-Za-z0-9_.:-].
func checkID(field, s string) error {
	if s == "" || len(s) > maxIDLen {
		return invalid("%s must be 1 to %d characters", field, maxIDLen)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '-' || r == '.' || r == ':'
		if !ok {
			return invalid("%s %q may hold only letters, digits and _ - . :", field, s)
		}
	}
	return nil
}

// CheckID reports whether id is a valid, normalised tenant ID (the form
// ParseID returns).
func CheckID(id ID) error {
	p, err := ParseID(string(id))
	if err != nil {
		return err
	}
	if p != id {
		return invalid("tenant id %q is not normalised (want %q)", id, p)
	}
	return nil
}

// Validate checks t before a store writes it.
func (t *Tenant) Validate() error {
	if err := CheckID(t.ID); err != nil {
		return err
	}
	if err := checkText("name", t.Name, maxNameLen, false, false); err != nil {
		return err
	}
	l := t.Limits
	if l.MaxPBXes < 0 || l.MaxUsers < 0 || l.MaxTokens < 0 || l.MaxConnsPerID < 0 {
		return invalid("limits must not be negative")
	}
	p := t.Privacy
	if p.KeepLast < 0 || p.KeepLast > 64 {
		return invalid("privacy keep_last must be 0 to 64")
	}
	if utf8.RuneCountInString(p.MaskChar) > 1 || !utf8.ValidString(p.MaskChar) {
		return invalid("privacy mask_char must be at most one character")
	}
	return nil
}

// Validate checks p before a store writes it, and fills the defaults
// (ARIApp "hookflash"). The ID may be empty (the store assigns one).
func (p *PBX) Validate() error {
	if p.ID != "" {
		if err := checkID("pbx id", p.ID); err != nil {
			return err
		}
	}
	if p.ARIApp == "" {
		p.ARIApp = defaultARIApp
	}
	for _, f := range []struct {
		name, v string
		max     int
		req     bool
	}{
		{"name", p.Name, maxNameLen, true},
		{"ari_url", p.ARIURL, maxURLLen, false},
		{"ari_user", p.ARIUser, maxShortLen, false},
		{"ari_app", p.ARIApp, maxShortLen, true},
		{"ami_addr", p.AMIAddr, maxShortLen, false},
		{"ami_user", p.AMIUser, maxShortLen, false},
		{"ari password", p.Secrets.ARIPassword, maxSecretLen, false},
		{"ami secret", p.Secrets.AMISecret, maxSecretLen, false},
	} {
		if err := checkText(f.name, f.v, f.max, f.req, false); err != nil {
			return err
		}
	}
	if err := checkText("tls_ca", p.TLSCA, maxPEMLen, false, true); err != nil {
		return err
	}
	if p.ARIURL != "" {
		u, err := url.Parse(p.ARIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("ari_url must be an http:// or https:// URL such as http://pbx:8088/ari")
		}
		if u.User != nil {
			return invalid("ari_url must not hold credentials; set ari_user and the ARI password")
		}
	}
	if p.AMIAddr != "" {
		host, port, err := net.SplitHostPort(p.AMIAddr)
		if err != nil || host == "" || port == "" {
			return invalid("ami_addr must be host:port, such as pbx:5038")
		}
	}
	return nil
}

// Validate checks u before a store writes it. The ID may be empty.
func (u *User) Validate() error {
	if u.ID != "" {
		if err := checkID("user id", u.ID); err != nil {
			return err
		}
	}
	if err := checkText("username", u.Username, maxShortLen, true, false); err != nil {
		return err
	}
	if strings.ContainsFunc(u.Username, unicode.IsSpace) {
		return invalid("username must not contain spaces")
	}
	for _, f := range []struct {
		name, v string
		max     int
		req     bool
	}{
		{"name", u.Name, maxNameLen, false},
		{"email", u.Email, maxShortLen, false},
		{"role", u.Role, maxShortLen, true},
		{"main_extension", u.MainExtension, maxShortLen, false},
		{"password hash", u.PasswordHash, maxSecretLen, false},
	} {
		if err := checkText(f.name, f.v, f.max, f.req, false); err != nil {
			return err
		}
	}
	if len(u.Terminals) > maxTerminals {
		return invalid("a user has at most %d terminals", maxTerminals)
	}
	seen := make(map[string]bool, len(u.Terminals))
	for _, term := range u.Terminals {
		if err := checkText("terminal", term, maxShortLen, true, false); err != nil {
			return err
		}
		if seen[term] {
			return invalid("terminal %q listed twice", term)
		}
		seen[term] = true
	}
	return nil
}

// Validate checks t before a store writes it. The ID may be empty.
func (t *Token) Validate() error {
	if t.ID != "" {
		if err := checkID("token id", t.ID); err != nil {
			return err
		}
	}
	if t.Hash == ([32]byte{}) {
		return invalid("token hash is empty")
	}
	if err := checkText("name", t.Name, maxNameLen, false, false); err != nil {
		return err
	}
	if err := checkText("role", t.Role, maxShortLen, true, false); err != nil {
		return err
	}
	return checkText("prefix", t.Prefix, 32, false, false)
}

// Validate checks e before a store appends it. Tenant may be empty
// (platform-level entry).
func (e *AuditEntry) Validate() error {
	if e.Tenant != "" {
		if err := CheckID(e.Tenant); err != nil {
			return err
		}
	}
	if err := checkText("action", e.Action, maxShortLen, true, false); err != nil {
		return err
	}
	if err := checkText("actor", e.Actor, maxShortLen, false, false); err != nil {
		return err
	}
	if err := checkText("target", e.Target, maxShortLen, false, false); err != nil {
		return err
	}
	return checkText("detail", e.Detail, maxDetailLen, false, true)
}

// Validate checks c before a store records it.
func (c *Call) Validate() error {
	if err := CheckID(c.Tenant); err != nil {
		return err
	}
	if err := checkID("pbx id", c.PBX); err != nil {
		return err
	}
	if err := checkText("linked_id", c.LinkedID, maxShortLen, true, false); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"direction", c.Direction}, {"from", c.From}, {"from_name", c.FromName},
		{"to", c.To}, {"queue", c.Queue}, {"disposition", c.Disposition},
	} {
		if err := checkText(f.name, f.v, maxShortLen, false, false); err != nil {
			return err
		}
	}
	if len(c.Users) > maxCallUsers {
		return invalid("a call involves at most %d users", maxCallUsers)
	}
	for _, u := range c.Users {
		if err := checkText("user", u, maxShortLen, true, false); err != nil {
			return err
		}
	}
	if c.StartedAt.IsZero() || c.EndedAt.IsZero() {
		return invalid("started_at and ended_at are required")
	}
	if c.EndedAt.Before(c.StartedAt) {
		return invalid("ended_at is before started_at")
	}
	if !(c.WaitSec >= 0 && c.TalkSec >= 0) || math.IsInf(c.WaitSec, 0) || math.IsInf(c.TalkSec, 0) {
		return invalid("wait_s and talk_s must be finite and not negative")
	}
	return nil
}
