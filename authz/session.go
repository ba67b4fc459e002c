package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Session is a logged-in user's session. The token itself is never kept.
type Session struct {
	// ID identifies the session without revealing the token (the first 16
	// bytes of its SHA-256, hex): safe in logs and in bus messages
	// (Message{Kind: KindSession, ID: s.ID}).
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	UserID    string    `json:"user_id"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the session ends unless used again: the idle
	// timeout from the last use, capped by the maximum lifetime.
	ExpiresAt time.Time `json:"expires_at"`
}

// SessionStore keeps user sessions, found by token, with sliding idle
// expiry. Implementations: MemorySessionStore (single node) and
// RedisSessionStore; both pass one conformance suite. Safe for concurrent
// use.
type SessionStore interface {
	// Create starts a session and returns its token (shown to the user
	// once; only its hash is stored).
	Create(ctx context.Context, tenant, userID, role string) (token string, s *Session, err error)
	// Get returns the session of token and slides its idle expiry. Unknown,
	// malformed, expired or deleted tokens return ErrSessionNotFound.
	Get(ctx context.Context, token string) (*Session, error)
	// Touch slides the idle expiry (an open socket keeps its session
	// alive); ErrSessionNotFound when it already ended.
	Touch(ctx context.Context, token string) error
	// Delete ends one session (logout). Deleting an unknown session is not
	// an error.
	Delete(ctx context.Context, token string) error
	// DeleteUser ends every session of a user and returns their IDs, to
	// publish so their sockets close.
	DeleteUser(ctx context.Context, tenant, userID string) (ids []string, err error)
}

// SessionConfig configures both session stores.
type SessionConfig struct {
	// IdleTimeout ends a session not used for this long. Default 30 min
	// (nethcti's token expiry).
	IdleTimeout time.Duration
	// MaxLifetime ends a session this long after Create however much it is
	// used. Default 24 h.
	MaxLifetime time.Duration
	// Now is the clock of MemorySessionStore (tests). Default time.Now.
	// RedisSessionStore expires keys on Redis's clock.
	Now func() time.Time
}

func (c *SessionConfig) fill() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.MaxLifetime <= 0 {
		c.MaxLifetime = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// SessionID returns the ID of the session a token opens.
func SessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:16])
}

// sessionHash is the store key of a token: its full SHA-256 in hex.
func sessionHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// checkSessionToken rejects anything that is not a well-formed session
// token before a store lookup.
func checkSessionToken(token string) error {
	k, err := ParseTokenKind(token)
	if err != nil || k != TokenSession {
		return ErrSessionNotFound
	}
	return nil
}

func checkSessionArgs(tenant, userID string) error {
	if err := CheckTenant(tenant); err != nil {
		return err
	}
	if userID == "" || len(userID) > 128 {
		return errors.New("authz: session user id must be 1 to 128 bytes")
	}
	return nil
}

// expiry is the ExpiresAt of a session used at now.
func expiry(created, now time.Time, idle, max time.Duration) time.Time {
	e := now.Add(idle)
	if end := created.Add(max); end.Before(e) {
		e = end
	}
	return e
}

// MemorySessionStore keeps sessions in memory: the single-node store.
// Expired sessions are dropped when looked up and by a sweep every 256
// creations.
type MemorySessionStore struct {
	cfg SessionConfig

	mu      sync.Mutex // guards the fields below
	byHash  map[string]*Session
	byUser  map[[2]string]map[string]struct{} // (tenant, user) -> hashes
	creates int
}

var _ SessionStore = (*MemorySessionStore)(nil)

// NewMemorySessionStore returns an empty store.
func NewMemorySessionStore(cfg SessionConfig) *MemorySessionStore {
	cfg.fill()
	return &MemorySessionStore{cfg: cfg, byHash: map[string]*Session{}, byUser: map[[2]string]map[string]struct{}{}}
}

// Create starts a session.
func (m *MemorySessionStore) Create(_ context.Context, tenant, userID, role string) (string, *Session, error) {
	if err := checkSessionArgs(tenant, userID); err != nil {
		return "", nil, err
	}
	token, err := newToken(SessionTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := m.cfg.Now()
	s := &Session{ID: SessionID(token), Tenant: tenant, UserID: userID, Role: role, CreatedAt: now,
		ExpiresAt: expiry(now, now, m.cfg.IdleTimeout, m.cfg.MaxLifetime)}
	h := sessionHash(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byHash[h] = s
	k := [2]string{tenant, userID}
	if m.byUser[k] == nil {
		m.byUser[k] = map[string]struct{}{}
	}
	m.byUser[k][h] = struct{}{}
	if m.creates++; m.creates%256 == 0 {
		for h, s := range m.byHash {
			if !now.Before(s.ExpiresAt) {
				m.removeLocked(h, s)
			}
		}
	}
	c := *s
	return token, &c, nil
}

func (m *MemorySessionStore) removeLocked(h string, s *Session) {
	delete(m.byHash, h)
	k := [2]string{s.Tenant, s.UserID}
	delete(m.byUser[k], h)
	if len(m.byUser[k]) == 0 {
		delete(m.byUser, k)
	}
}

// Get returns the session and slides its expiry.
func (m *MemorySessionStore) Get(_ context.Context, token string) (*Session, error) {
	if err := checkSessionToken(token); err != nil {
		return nil, err
	}
	h := sessionHash(token)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byHash[h]
	if !ok {
		return nil, ErrSessionNotFound
	}
	if !now.Before(s.ExpiresAt) {
		m.removeLocked(h, s)
		return nil, ErrSessionNotFound
	}
	s.ExpiresAt = expiry(s.CreatedAt, now, m.cfg.IdleTimeout, m.cfg.MaxLifetime)
	c := *s
	return &c, nil
}

// Touch slides the expiry.
func (m *MemorySessionStore) Touch(ctx context.Context, token string) error {
	_, err := m.Get(ctx, token)
	return err
}

// Delete ends one session.
func (m *MemorySessionStore) Delete(_ context.Context, token string) error {
	if checkSessionToken(token) != nil {
		return nil
	}
	h := sessionHash(token)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byHash[h]; ok {
		m.removeLocked(h, s)
	}
	return nil
}

// DeleteUser ends every session of a user.
func (m *MemorySessionStore) DeleteUser(_ context.Context, tenant, userID string) ([]string, error) {
	if err := checkSessionArgs(tenant, userID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for h := range m.byUser[[2]string{tenant, userID}] {
		if s, ok := m.byHash[h]; ok {
			ids = append(ids, s.ID)
			m.removeLocked(h, s)
		}
	}
	return ids, nil
}

// Len returns the number of stored sessions, expired ones not yet swept
// included (for metrics and tests).
func (m *MemorySessionStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byHash)
}

func wrapRedis(op string, err error) error { return fmt.Errorf("authz: session %s: %w", op, err) }
