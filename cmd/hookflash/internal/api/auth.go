package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/tenant"
)

// PrincipalKind says how a request authenticated.
type PrincipalKind string

const (
	KindPlatform PrincipalKind = "platform" // the SaaS operator's bootstrap token
	KindUser     PrincipalKind = "user"     // a user session (login)
	KindToken    PrincipalKind = "token"    // an integrator API token
)

// Principal is an authenticated caller.
type Principal struct {
	Kind   PrincipalKind
	Tenant tenant.ID       // empty for the platform admin
	Authz  authz.Principal // casbin identity (tenant principals)
	// TokenID is the API token's id (KindToken); SessionID the session's
	// id (KindUser, never the secret); Secret the credential presented,
	// kept only in memory for Touch.
	TokenID   string
	SessionID string
	Secret    string
}

// Key identifies the principal for connection caps and targeted closes.
func (p *Principal) Key() string {
	switch p.Kind {
	case KindUser:
		return "user:" + p.Authz.UserID
	case KindToken:
		return "token:" + p.TokenID
	}
	return "platform"
}

// Actor describes the principal in the audit log (never a secret).
func (p *Principal) Actor() string {
	switch p.Kind {
	case KindUser:
		return "user:" + p.Authz.UserID
	case KindToken:
		return "token:" + p.TokenID
	}
	return "platform-admin"
}

// Identity holds what authentication needs.
type Identity struct {
	Store      tenant.Store
	Authz      *authz.Authorizer
	Sessions   authz.SessionStore
	Bus        authz.Bus
	AdminToken string // empty disables the platform admin
	Passwords  *authz.PasswordHasher
	Logins     authz.LoginLimiter // per client IP and per login name

	used sync.Map // token id -> tenant.TokenUse, flushed by FlushTokenUse
}

var (
	errNoCredentials  = Errorf(http.StatusUnauthorized, "unauthorized", "no credentials: send Authorization: Bearer <token>, ?token=, or Basic domain:token")
	errBadCredentials = Errorf(http.StatusUnauthorized, "unauthorized", "unknown, expired or revoked credentials")
)

// Authenticate resolves credentials to a principal. Every failure is a 401
// *Error whose message never says which part was wrong beyond the form.
func (id *Identity) Authenticate(ctx context.Context, authHeader, queryToken string) (*Principal, error) {
	if authHeader == "" && queryToken == "" {
		return nil, errNoCredentials
	}
	cr, err := authz.ParseCredentials(authHeader, queryToken)
	if err != nil {
		return nil, Errorf(http.StatusUnauthorized, "unauthorized", "malformed credentials: %v", err)
	}
	if id.AdminToken != "" && cr.Domain == "" && authz.EqualSecret(cr.Token, id.AdminToken) {
		return &Principal{Kind: KindPlatform}, nil
	}
	switch cr.Kind {
	case authz.TokenSession:
		s, err := id.Sessions.Get(ctx, cr.Token)
		if err != nil {
			if errors.Is(err, authz.ErrSessionNotFound) {
				return nil, errBadCredentials
			}
			return nil, err
		}
		if cr.Domain != "" && cr.Domain != s.Tenant {
			return nil, errBadCredentials
		}
		return &Principal{
			Kind: KindUser, Tenant: tenant.ID(s.Tenant), SessionID: s.ID, Secret: cr.Token,
			Authz: authz.Principal{Tenant: s.Tenant, Subject: authz.UserSubject(s.UserID), Role: s.Role, UserID: s.UserID},
		}, nil
	case authz.TokenAPI:
		t, err := id.Store.GetTokenByHash(ctx, authz.HashToken(cr.Token))
		if err != nil {
			if errors.Is(err, tenant.ErrNotFound) {
				return nil, errBadCredentials
			}
			return nil, err
		}
		now := time.Now()
		if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
			return nil, errBadCredentials
		}
		if cr.Domain != "" && cr.Domain != string(t.Tenant) {
			return nil, errBadCredentials
		}
		id.used.Store(t.ID, tenant.TokenUse{Tenant: t.Tenant, At: now})
		return &Principal{
			Kind: KindToken, Tenant: t.Tenant, TokenID: t.ID, Secret: cr.Token,
			Authz: authz.Principal{Tenant: string(t.Tenant), Subject: authz.TokenSubject(t.ID), Role: t.Role},
		}, nil
	}
	return nil, errBadCredentials
}

// FlushTokenUse writes the batched last-used times (called periodically:
// no write per request).
func (id *Identity) FlushTokenUse(ctx context.Context) error {
	batch := map[string]tenant.TokenUse{}
	id.used.Range(func(k, v any) bool {
		batch[k.(string)] = v.(tenant.TokenUse)
		id.used.Delete(k)
		return true
	})
	if len(batch) == 0 {
		return nil
	}
	return id.Store.TouchTokens(ctx, batch)
}

const localPrincipal = "principal"

// principal returns the authenticated principal of a request.
func principal(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(localPrincipal).(*Principal)
	return p
}

// authenticated is middleware that requires any valid principal.
func (s *Server) authenticated(c *fiber.Ctx) error {
	p, err := s.id.Authenticate(c.UserContext(), c.Get(fiber.HeaderAuthorization), c.Query("token"))
	if err != nil {
		return err
	}
	c.Locals(localPrincipal, p)
	return c.Next()
}

// requirePlatform allows only the platform admin.
func requirePlatform(c *fiber.Ctx) error {
	if p := principal(c); p == nil || p.Kind != KindPlatform {
		return Errorf(http.StatusForbidden, "forbidden", "only the platform admin may do this")
	}
	return c.Next()
}

// tenantOf returns the tenant a request acts on: the principal's own, or for
// the platform admin the one named by ?tenant= (so the operator can manage
// a tenant's admins and PBXes).
func tenantOf(c *fiber.Ctx) (tenant.ID, error) {
	p := principal(c)
	if p.Kind != KindPlatform {
		return p.Tenant, nil
	}
	q := c.Query("tenant")
	if q == "" {
		return "", Errorf(http.StatusBadRequest, "invalid", "the platform admin must name the tenant: ?tenant=<domain>")
	}
	return tenant.ParseID(q)
}

// can checks a casbin permission for the request's principal; the platform
// admin may do anything.
func (s *Server) can(c *fiber.Ctx, obj, act string) error {
	p := principal(c)
	if p.Kind == KindPlatform {
		return nil
	}
	if !s.id.Authz.Can(p.Authz, obj, act) {
		return Errorf(http.StatusForbidden, "forbidden", "not allowed: %s %s", act, obj)
	}
	return nil
}

// requirePerm is middleware form of can.
func (s *Server) requirePerm(obj, act string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.can(c, obj, act); err != nil {
			return err
		}
		return c.Next()
	}
}

// cleanLogin trims a login field.
func cleanLogin(s string) string { return strings.TrimSpace(s) }
