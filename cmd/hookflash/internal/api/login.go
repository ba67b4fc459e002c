package api

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/tenant"
)

func (s *Server) mountAuth() {
	s.v1.Post("/auth/login", s.login)
	s.v1.Post("/auth/logout", s.authenticated, s.logout)
	s.v1.Get("/auth/me", s.authenticated, s.me)
}

type loginRequest struct {
	Domain   string `json:"domain"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// login checks a user's password and opens a session. Attempts are limited
// per client IP and per (domain, user); the answer to a wrong domain, user
// or password is the same 401.
func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := c.BodyParser(&req); err != nil {
		return Errorf(http.StatusBadRequest, "invalid", "body must be JSON {domain, username, password}")
	}
	if req.Domain == "" || req.Username == "" || req.Password == "" {
		return Errorf(http.StatusBadRequest, "invalid", "domain, username and password are required")
	}
	tid, err := tenant.ParseID(req.Domain)
	if err != nil {
		return Errorf(http.StatusUnauthorized, "unauthorized", "wrong domain, username or password")
	}
	login, err := authz.NormalizeLogin(req.Username, string(tid))
	if err != nil {
		return Errorf(http.StatusUnauthorized, "unauthorized", "wrong domain, username or password")
	}
	if login.Domain != "" && login.Domain != string(tid) {
		return Errorf(http.StatusUnauthorized, "unauthorized", "wrong domain, username or password")
	}
	ctx := c.UserContext()
	userKey := string(tid) + "/" + login.Key()
	wait, ok, err := s.id.Logins.Allow(ctx, s.clientIP(c), userKey)
	if err != nil {
		return err
	}
	if !ok {
		secs := int(wait.Seconds() + 1)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return Errorf(http.StatusTooManyRequests, "rate_limited", "too many login attempts; retry in %d s", secs)
	}
	u, err := s.findLoginUser(c, tid, login)
	if err != nil {
		// Spend the same time as a real check so timing does not reveal users.
		_ = s.id.Passwords.VerifyUnknown(ctx, req.Password)
		_ = s.id.Logins.Failed(ctx, userKey)
		return Errorf(http.StatusUnauthorized, "unauthorized", "wrong domain, username or password")
	}
	ok, rehash, err := s.id.Passwords.Verify(ctx, req.Password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok || u.Disabled {
		_ = s.id.Logins.Failed(ctx, userKey)
		return Errorf(http.StatusUnauthorized, "unauthorized", "wrong domain, username or password")
	}
	_ = s.id.Logins.Succeeded(ctx, userKey)
	if rehash {
		// The stored hash uses older parameters: upgrade it now that we
		// know the password.
		if h, err := s.id.Passwords.Hash(ctx, req.Password); err == nil {
			u.PasswordHash = h
			_ = s.id.Store.UpdateUser(ctx, tid, u)
		}
	}
	token, sess, err := s.id.Sessions.Create(ctx, string(tid), u.ID, u.Role)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"token": token, "expires_at": sess.ExpiresAt, "user": u})
}

// findLoginUser resolves a normalised login (username or extension) to a user.
func (s *Server) findLoginUser(c *fiber.Ctx, tid tenant.ID, login authz.Login) (*tenant.User, error) {
	ctx := c.UserContext()
	if !login.Extension {
		return s.id.Store.GetUserByUsername(ctx, tid, login.Name)
	}
	users, err := s.id.Store.ListUsers(ctx, tid)
	if err != nil {
		return nil, err
	}
	for i := range users {
		if users[i].MainExtension != "" && users[i].MainExtension == login.Name {
			return &users[i], nil
		}
	}
	return s.id.Store.GetUserByUsername(ctx, tid, login.Name)
}

// logout ends the caller's session everywhere: its sockets close on every
// replica through the identity bus.
func (s *Server) logout(c *fiber.Ctx) error {
	p := principal(c)
	if p.Kind != KindUser {
		return Errorf(http.StatusBadRequest, "invalid", "only a user session can log out; revoke API tokens with DELETE /api/v1/tokens/{id}")
	}
	if err := s.id.Sessions.Delete(c.UserContext(), p.Secret); err != nil {
		return err
	}
	if err := s.id.Bus.Publish(c.UserContext(), authz.Message{Kind: authz.KindSession, Tenant: string(p.Tenant), ID: p.SessionID}); err != nil {
		s.log.Warn("logout: could not announce the ended session", "err", err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// me describes the caller.
func (s *Server) me(c *fiber.Ctx) error {
	p := principal(c)
	out := fiber.Map{"kind": p.Kind, "tenant": p.Tenant, "role": p.Authz.Role}
	if p.Kind == KindUser {
		out["user_id"] = p.Authz.UserID
	}
	if p.Kind == KindToken {
		out["token_id"] = p.TokenID
	}
	return c.JSON(out)
}
