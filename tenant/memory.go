package tenant

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is the Store of the embedded single-node mode: everything in
// process memory, lost on exit. Values are copied in and out, so callers
// never share memory with the store. Secrets are kept in memory unsealed
// (there is no disk to protect). Safe for concurrent use.
//
// The call history keeps at most MemoryCallLimit calls per tenant; beyond
// that the oldest (by EndedAt) are dropped, so a long-running demo does not
// grow without bound.
type MemoryStore struct {
	mu          sync.RWMutex // guards the fields below
	tenants     map[ID]*memTenant
	tokenByHash map[[32]byte]tokenRef
	audit       []AuditEntry // platform-level entries (Tenant == "")
	auditSeq    int64        // last AuditEntry.ID handed out, across tenants
	callLimit   int          // calls kept per tenant; set in NewMemoryStore (tests lower it)
}

var _ Store = (*MemoryStore)(nil)

// memTenant holds one tenant's rows; guarded by MemoryStore.mu.
type memTenant struct {
	t         Tenant
	pbxes     map[string]*PBX   // by id, with secrets
	users     map[string]*User  // by id
	usernames map[string]string // lower(username) -> user id
	terminals map[string]string // terminal -> user id
	tokens    map[string]*Token // by id
	calls     map[callKey]*Call // the history, by key (idempotency)
	history   []*Call           // the same calls, oldest first (reverse CallQuery order)
	audit     []AuditEntry      // oldest first
}

type tokenRef struct {
	tenant ID
	id     string
}

type callKey struct{ pbx, linked string }

// MemoryCallLimit is how many calls of history MemoryStore keeps per tenant.
const MemoryCallLimit = 100_000

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		tenants:     make(map[ID]*memTenant),
		tokenByHash: make(map[[32]byte]tokenRef),
		callLimit:   MemoryCallLimit,
	}
}

// Ping always succeeds.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close does nothing; the store stays usable.
func (s *MemoryStore) Close() {}

// tenant returns the rows of id; the caller holds mu.
func (s *MemoryStore) tenant(id ID) (*memTenant, error) {
	mt, ok := s.tenants[id]
	if !ok {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return mt, nil
}

// ---- tenants

// CreateTenant stores t and sets its timestamps. ErrConflict if the domain exists.
func (s *MemoryStore) CreateTenant(_ context.Context, t *Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tenants[t.ID]; ok {
		return fmt.Errorf("tenant %q: %w", t.ID, ErrConflict)
	}
	now := Now()
	t.CreatedAt, t.UpdatedAt = now, now
	s.tenants[t.ID] = &memTenant{
		t:         *t,
		pbxes:     make(map[string]*PBX),
		users:     make(map[string]*User),
		usernames: make(map[string]string),
		terminals: make(map[string]string),
		tokens:    make(map[string]*Token),
		calls:     make(map[callKey]*Call),
	}
	return nil
}

// GetTenant returns one tenant or ErrNotFound.
func (s *MemoryStore) GetTenant(_ context.Context, id ID) (*Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	t := mt.t
	return &t, nil
}

// ListTenants returns every tenant ordered by ID.
func (s *MemoryStore) ListTenants(context.Context) ([]Tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Tenant, 0, len(s.tenants))
	for _, mt := range s.tenants {
		out = append(out, mt.t)
	}
	slices.SortFunc(out, func(a, b Tenant) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, nil
}

// UpdateTenant replaces name, limits, privacy and the disabled flag; it
// sets UpdatedAt and reports CreatedAt back in t.
func (s *MemoryStore) UpdateTenant(_ context.Context, t *Tenant) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(t.ID)
	if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt = mt.t.CreatedAt, Now()
	mt.t = *t
	return nil
}

// DeleteTenant removes the tenant and all its rows.
func (s *MemoryStore) DeleteTenant(_ context.Context, id ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	for _, tok := range mt.tokens {
		delete(s.tokenByHash, tok.Hash)
	}
	delete(s.tenants, id)
	return nil
}

// ---- PBXes

// CreatePBX stores p under tenant id (p.Tenant is set to id), assigning an
// ID when empty, Version 1 and the timestamps.
func (s *MemoryStore) CreatePBX(_ context.Context, id ID, p *PBX) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	if p.ID == "" {
		p.ID = NewRecordID("pbx")
	}
	if _, ok := mt.pbxes[p.ID]; ok {
		return fmt.Errorf("pbx %q: %w", p.ID, ErrConflict)
	}
	now := Now()
	p.Tenant, p.Version, p.CreatedAt, p.UpdatedAt = id, 1, now, now
	c := *p
	mt.pbxes[p.ID] = &c
	return nil
}

func publicPBX(p *PBX) PBX {
	c := *p
	c.Secrets = PBXSecrets{}
	return c
}

// GetPBX returns one PBX without its secrets.
func (s *MemoryStore) GetPBX(_ context.Context, id ID, pbxID string) (*PBX, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	p, ok := mt.pbxes[pbxID]
	if !ok {
		return nil, fmt.Errorf("pbx %q: %w", pbxID, ErrNotFound)
	}
	c := publicPBX(p)
	return &c, nil
}

// ListPBXes returns the tenant's PBXes ordered by name then ID, without secrets.
func (s *MemoryStore) ListPBXes(_ context.Context, id ID) ([]PBX, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, ok := s.tenants[id]
	if !ok {
		return []PBX{}, nil
	}
	out := make([]PBX, 0, len(mt.pbxes))
	for _, p := range mt.pbxes {
		out = append(out, publicPBX(p))
	}
	slices.SortFunc(out, comparePBX)
	return out, nil
}

func comparePBX(a, b PBX) int {
	if c := strings.Compare(string(a.Tenant), string(b.Tenant)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// UpdatePBX replaces the PBX's fields, keeps each secret left empty, bumps
// Version and reports Version and the timestamps back in p.
func (s *MemoryStore) UpdatePBX(_ context.Context, id ID, p *PBX) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	old, ok := mt.pbxes[p.ID]
	if !ok {
		return fmt.Errorf("pbx %q: %w", p.ID, ErrNotFound)
	}
	c := *p
	if c.Secrets.ARIPassword == "" {
		c.Secrets.ARIPassword = old.Secrets.ARIPassword
	}
	if c.Secrets.AMISecret == "" {
		c.Secrets.AMISecret = old.Secrets.AMISecret
	}
	c.Tenant, c.Version, c.CreatedAt, c.UpdatedAt = id, old.Version+1, old.CreatedAt, Now()
	mt.pbxes[p.ID] = &c
	p.Tenant, p.Version, p.CreatedAt, p.UpdatedAt = c.Tenant, c.Version, c.CreatedAt, c.UpdatedAt
	return nil
}

// DeletePBX removes one PBX. Its call history stays.
func (s *MemoryStore) DeletePBX(_ context.Context, id ID, pbxID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	if _, ok := mt.pbxes[pbxID]; !ok {
		return fmt.Errorf("pbx %q: %w", pbxID, ErrNotFound)
	}
	delete(mt.pbxes, pbxID)
	return nil
}

// PBXSecrets returns the credentials of one PBX.
func (s *MemoryStore) PBXSecrets(_ context.Context, id ID, pbxID string) (PBXSecrets, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, err := s.tenant(id)
	if err != nil {
		return PBXSecrets{}, err
	}
	p, ok := mt.pbxes[pbxID]
	if !ok {
		return PBXSecrets{}, fmt.Errorf("pbx %q: %w", pbxID, ErrNotFound)
	}
	return p.Secrets, nil
}

// AllPBXes returns the PBXes of every tenant not disabled, ordered by
// tenant, name and ID, without secrets. Disabled PBXes are included.
func (s *MemoryStore) AllPBXes(context.Context) ([]PBX, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []PBX
	for _, mt := range s.tenants {
		if mt.t.Disabled {
			continue
		}
		for _, p := range mt.pbxes {
			out = append(out, publicPBX(p))
		}
	}
	slices.SortFunc(out, comparePBX)
	if out == nil {
		out = []PBX{}
	}
	return out, nil
}

// ---- users

func copyUser(u *User) User {
	c := *u
	c.Terminals = append(make([]string, 0, len(u.Terminals)), u.Terminals...)
	return c
}

// CreateUser stores u under tenant id, assigning an ID when empty.
// ErrConflict when the username (any case) or a terminal is taken.
func (s *MemoryStore) CreateUser(_ context.Context, id ID, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = NewRecordID("usr")
	}
	if _, ok := mt.users[u.ID]; ok {
		return fmt.Errorf("user %q: %w", u.ID, ErrConflict)
	}
	if err := mt.checkUnique(u); err != nil {
		return err
	}
	now := Now()
	u.Tenant, u.CreatedAt, u.UpdatedAt = id, now, now
	c := copyUser(u)
	mt.users[u.ID] = &c
	mt.index(&c)
	return nil
}

// checkUnique reports ErrConflict when u's username or a terminal belongs
// to another user.
func (mt *memTenant) checkUnique(u *User) error {
	if other, ok := mt.usernames[strings.ToLower(u.Username)]; ok && other != u.ID {
		return fmt.Errorf("username %q: %w", u.Username, ErrConflict)
	}
	for _, term := range u.Terminals {
		if other, ok := mt.terminals[term]; ok && other != u.ID {
			return fmt.Errorf("terminal %q belongs to another user: %w", term, ErrConflict)
		}
	}
	return nil
}

func (mt *memTenant) index(u *User) {
	mt.usernames[strings.ToLower(u.Username)] = u.ID
	for _, term := range u.Terminals {
		mt.terminals[term] = u.ID
	}
}

func (mt *memTenant) unindex(u *User) {
	delete(mt.usernames, strings.ToLower(u.Username))
	for _, term := range u.Terminals {
		delete(mt.terminals, term)
	}
}

// GetUser returns one user.
func (s *MemoryStore) GetUser(_ context.Context, id ID, userID string) (*User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	u, ok := mt.users[userID]
	if !ok {
		return nil, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	c := copyUser(u)
	return &c, nil
}

// GetUserByUsername returns the user whose username equals username
// ignoring case.
func (s *MemoryStore) GetUserByUsername(_ context.Context, id ID, username string) (*User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, err := s.tenant(id)
	if err != nil {
		return nil, err
	}
	uid, ok := mt.usernames[strings.ToLower(username)]
	if !ok {
		return nil, fmt.Errorf("user %q: %w", username, ErrNotFound)
	}
	c := copyUser(mt.users[uid])
	return &c, nil
}

// ListUsers returns the tenant's users ordered by lower-cased username.
func (s *MemoryStore) ListUsers(_ context.Context, id ID) ([]User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, ok := s.tenants[id]
	if !ok {
		return []User{}, nil
	}
	out := make([]User, 0, len(mt.users))
	for _, u := range mt.users {
		out = append(out, copyUser(u))
	}
	slices.SortFunc(out, func(a, b User) int {
		return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
	})
	return out, nil
}

// UpdateUser replaces the user's fields and terminals; an empty
// PasswordHash keeps the stored one. Timestamps are reported back in u.
func (s *MemoryStore) UpdateUser(_ context.Context, id ID, u *User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	old, ok := mt.users[u.ID]
	if !ok {
		return fmt.Errorf("user %q: %w", u.ID, ErrNotFound)
	}
	if err := mt.checkUnique(u); err != nil {
		return err
	}
	c := copyUser(u)
	if c.PasswordHash == "" {
		c.PasswordHash = old.PasswordHash
	}
	c.Tenant, c.CreatedAt, c.UpdatedAt = id, old.CreatedAt, Now()
	mt.unindex(old)
	mt.users[u.ID] = &c
	mt.index(&c)
	u.Tenant, u.CreatedAt, u.UpdatedAt = c.Tenant, c.CreatedAt, c.UpdatedAt
	return nil
}

// DeleteUser removes one user and frees its username and terminals.
func (s *MemoryStore) DeleteUser(_ context.Context, id ID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	u, ok := mt.users[userID]
	if !ok {
		return fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	mt.unindex(u)
	delete(mt.users, userID)
	return nil
}

// ---- tokens

func copyToken(t *Token) Token {
	c := *t
	c.ExpiresAt = clonePtr(t.ExpiresAt)
	c.LastUsedAt = clonePtr(t.LastUsedAt)
	c.RevokedAt = clonePtr(t.RevokedAt)
	return c
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// CreateToken stores t under tenant id, assigning an ID when empty and
// CreatedAt. ErrConflict when the hash exists (in any tenant).
func (s *MemoryStore) CreateToken(_ context.Context, id ID, t *Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	if t.ID == "" {
		t.ID = NewRecordID("tok")
	}
	if _, ok := mt.tokens[t.ID]; ok {
		return fmt.Errorf("token %q: %w", t.ID, ErrConflict)
	}
	if _, ok := s.tokenByHash[t.Hash]; ok {
		return fmt.Errorf("token hash: %w", ErrConflict)
	}
	t.Tenant, t.CreatedAt = id, Now()
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = normalizePtr(t.ExpiresAt), normalizePtr(t.LastUsedAt), normalizePtr(t.RevokedAt)
	c := copyToken(t)
	mt.tokens[t.ID] = &c
	s.tokenByHash[t.Hash] = tokenRef{tenant: id, id: t.ID}
	return nil
}

// GetTokenByHash finds a token in any tenant, revoked and expired included.
func (s *MemoryStore) GetTokenByHash(_ context.Context, hash [32]byte) (*Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ref, ok := s.tokenByHash[hash]
	if !ok {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	c := copyToken(s.tenants[ref.tenant].tokens[ref.id])
	return &c, nil
}

// ListTokens returns the tenant's tokens ordered by CreatedAt then ID.
func (s *MemoryStore) ListTokens(_ context.Context, id ID) ([]Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	mt, ok := s.tenants[id]
	if !ok {
		return []Token{}, nil
	}
	out := make([]Token, 0, len(mt.tokens))
	for _, t := range mt.tokens {
		out = append(out, copyToken(t))
	}
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeToken sets RevokedAt; revoking a revoked token keeps the first time.
func (s *MemoryStore) RevokeToken(_ context.Context, id ID, tokenID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, err := s.tenant(id)
	if err != nil {
		return err
	}
	t, ok := mt.tokens[tokenID]
	if !ok {
		return fmt.Errorf("token %q: %w", tokenID, ErrNotFound)
	}
	if t.RevokedAt == nil {
		now := Now()
		t.RevokedAt = &now
	}
	return nil
}

// TouchTokens moves LastUsedAt forward (never back) for each token id of
// the batch; ids unknown in their tenant are ignored.
func (s *MemoryStore) TouchTokens(_ context.Context, used map[string]TokenUse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tokenID, use := range used {
		mt, ok := s.tenants[use.Tenant]
		if !ok {
			continue
		}
		t, ok := mt.tokens[tokenID]
		if !ok || use.At.IsZero() {
			continue
		}
		at := Normalize(use.At)
		if t.LastUsedAt == nil || at.After(*t.LastUsedAt) {
			t.LastUsedAt = &at
		}
	}
	return nil
}
