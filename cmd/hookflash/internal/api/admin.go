package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/tenant"
)

// mountAdmin adds the administration routes of DESIGN §8. Each change is
// validated, written, audited, and announced where other parts must react.
func (s *Server) mountAdmin() {
	v := s.v1
	tn := v.Group("/tenants", s.authenticated, requirePlatform)
	tn.Get("/", s.listTenants)
	tn.Post("/", s.createTenant)
	tn.Get("/:id", s.getTenant)
	tn.Patch("/:id", s.patchTenant)
	tn.Delete("/:id", s.deleteTenant)

	pb := v.Group("/pbxes", s.authenticated)
	pb.Get("/", s.requirePerm(authz.ObjAdminPBXes, authz.ActRead), s.listPBXes)
	pb.Post("/", s.requirePerm(authz.ObjAdminPBXes, authz.ActWrite), s.createPBX)
	pb.Get("/:id", s.requirePerm(authz.ObjAdminPBXes, authz.ActRead), s.getPBX)
	pb.Patch("/:id", s.requirePerm(authz.ObjAdminPBXes, authz.ActWrite), s.patchPBX)
	pb.Delete("/:id", s.requirePerm(authz.ObjAdminPBXes, authz.ActWrite), s.deletePBX)
	pb.Post("/:id/test", s.requirePerm(authz.ObjAdminPBXes, authz.ActWrite), s.testPBX)

	us := v.Group("/users", s.authenticated)
	us.Get("/", s.requirePerm(authz.ObjAdminUsers, authz.ActRead), s.listUsers)
	us.Post("/", s.requirePerm(authz.ObjAdminUsers, authz.ActWrite), s.createUser)
	us.Get("/:id", s.requirePerm(authz.ObjAdminUsers, authz.ActRead), s.getUser)
	us.Patch("/:id", s.requirePerm(authz.ObjAdminUsers, authz.ActWrite), s.patchUser)
	us.Delete("/:id", s.requirePerm(authz.ObjAdminUsers, authz.ActWrite), s.deleteUser)

	tk := v.Group("/tokens", s.authenticated)
	tk.Get("/", s.requirePerm(authz.ObjAdminTokens, authz.ActRead), s.listTokens)
	tk.Post("/", s.requirePerm(authz.ObjAdminTokens, authz.ActWrite), s.createToken)
	tk.Delete("/:id", s.requirePerm(authz.ObjAdminTokens, authz.ActWrite), s.revokeToken)

	v.Get("/policies", s.authenticated, s.requirePerm(authz.ObjAdminPolicies, authz.ActRead), s.getPolicies)
	v.Put("/policies", s.authenticated, s.requirePerm(authz.ObjAdminPolicies, authz.ActWrite), s.putPolicies)
	v.Get("/audit", s.authenticated, s.requirePerm(authz.ObjAdminAudit, authz.ActRead), s.listAudit)
}

// audit appends one audit row; a failure is logged, not returned, since
// the change itself already happened.
func (s *Server) audit(c *fiber.Ctx, t tenant.ID, action, target, detail string) {
	e := &tenant.AuditEntry{Tenant: t, Actor: principal(c).Actor(), Action: action, Target: target, Detail: detail, At: time.Now().UTC()}
	if err := s.id.Store.AppendAudit(c.UserContext(), e); err != nil {
		s.log.Error("audit append failed", "action", action, "err", err)
	}
}

func (s *Server) announce(ctx context.Context, m authz.Message) {
	if err := s.id.Bus.Publish(ctx, m); err != nil {
		s.log.Warn("identity bus publish failed", "kind", m.Kind, "err", err)
	}
}

// bind decodes a JSON body strictly enough to give a clear error.
func bind(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return Errorf(http.StatusUnsupportedMediaType, "invalid", "send the body as Content-Type: application/json")
	}
	if err := c.BodyParser(v); err != nil {
		return Errorf(http.StatusBadRequest, "invalid", "malformed JSON body: %v", err)
	}
	return nil
}

// ---- tenants (platform admin)

type tenantBody struct {
	Domain  string          `json:"domain"`
	Name    *string         `json:"name"`
	Limits  *tenant.Limits  `json:"limits"`
	Privacy *tenant.Privacy `json:"privacy"`
	Disable *bool           `json:"disabled"`
	// Admin, on create, makes the tenant's first admin user.
	Admin *struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Name     string `json:"name"`
	} `json:"admin"`
}

func (s *Server) listTenants(c *fiber.Ctx) error {
	ts, err := s.id.Store.ListTenants(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tenants": ts})
}

func (s *Server) createTenant(c *fiber.Ctx) error {
	var b tenantBody
	if err := bind(c, &b); err != nil {
		return err
	}
	id, err := tenant.ParseID(b.Domain)
	if err != nil {
		return err
	}
	t := &tenant.Tenant{ID: id, Name: b.Domain}
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Limits != nil {
		t.Limits = *b.Limits
	}
	if b.Privacy != nil {
		t.Privacy = *b.Privacy
	}
	ctx := c.UserContext()
	var admin *tenant.User
	if b.Admin != nil {
		admin = &tenant.User{Username: b.Admin.Username, Name: b.Admin.Name, Role: tenant.RoleAdmin}
		if err := s.setPassword(ctx, admin, b.Admin.Password); err != nil {
			return err
		}
	}
	if err := s.id.Store.CreateTenant(ctx, t); err != nil {
		return err
	}
	if _, err := s.id.Authz.EnsureDefaults(ctx, string(id)); err != nil {
		return err
	}
	if admin != nil {
		if err := s.id.Store.CreateUser(ctx, id, admin); err != nil {
			return err
		}
	}
	s.audit(c, id, "tenant.create", string(id), "")
	out := fiber.Map{"tenant": t}
	if admin != nil {
		out["admin"] = admin
	}
	return c.Status(http.StatusCreated).JSON(out)
}

func (s *Server) getTenant(c *fiber.Ctx) error {
	id, err := tenant.ParseID(c.Params("id"))
	if err != nil {
		return err
	}
	t, err := s.id.Store.GetTenant(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) patchTenant(c *fiber.Ctx) error {
	id, err := tenant.ParseID(c.Params("id"))
	if err != nil {
		return err
	}
	var b tenantBody
	if err := bind(c, &b); err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.id.Store.GetTenant(ctx, id)
	if err != nil {
		return err
	}
	if b.Name != nil {
		t.Name = *b.Name
	}
	if b.Limits != nil {
		t.Limits = *b.Limits
	}
	if b.Privacy != nil {
		t.Privacy = *b.Privacy
	}
	if b.Disable != nil {
		t.Disabled = *b.Disable
	}
	if err := s.id.Store.UpdateTenant(ctx, t); err != nil {
		return err
	}
	s.audit(c, id, "tenant.update", string(id), "")
	s.changed(ChangeTenant, id)
	return c.JSON(t)
}

func (s *Server) deleteTenant(c *fiber.Ctx) error {
	id, err := tenant.ParseID(c.Params("id"))
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.id.Store.DeleteTenant(ctx, id); err != nil {
		return err
	}
	if err := s.id.Authz.DropTenant(ctx, string(id)); err != nil {
		s.log.Warn("dropping the tenant's policies failed", "tenant", id, "err", err)
	}
	s.audit(c, "", "tenant.delete", string(id), "")
	s.changed(ChangeTenant, id)
	return c.SendStatus(http.StatusNoContent)
}

// ---- users (tenant admin)

type userBody struct {
	Username      *string   `json:"username"`
	Password      *string   `json:"password"`
	Name          *string   `json:"name"`
	Email         *string   `json:"email"`
	Role          *string   `json:"role"`
	MainExtension *string   `json:"main_extension"`
	Terminals     *[]string `json:"terminals"`
	Disabled      *bool     `json:"disabled"`
}

func (b *userBody) apply(u *tenant.User) {
	if b.Username != nil {
		u.Username = *b.Username
	}
	if b.Name != nil {
		u.Name = *b.Name
	}
	if b.Email != nil {
		u.Email = *b.Email
	}
	if b.Role != nil {
		u.Role = *b.Role
	}
	if b.MainExtension != nil {
		u.MainExtension = *b.MainExtension
	}
	if b.Terminals != nil {
		u.Terminals = *b.Terminals
	}
	if b.Disabled != nil {
		u.Disabled = *b.Disabled
	}
}

func (s *Server) setPassword(ctx context.Context, u *tenant.User, pw string) error {
	if len(pw) < 8 || len(pw) > authz.MaxPasswordLen {
		return Errorf(http.StatusBadRequest, "invalid", "password must be 8 to %d characters", authz.MaxPasswordLen)
	}
	h, err := s.id.Passwords.Hash(ctx, pw)
	if err != nil {
		return err
	}
	u.PasswordHash = h
	return nil
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	us, err := s.id.Store.ListUsers(c.UserContext(), t)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"users": us})
}

func (s *Server) createUser(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b userBody
	if err := bind(c, &b); err != nil {
		return err
	}
	u := &tenant.User{Role: tenant.RoleAgent}
	b.apply(u)
	if b.Password == nil {
		return Errorf(http.StatusBadRequest, "invalid", "password is required")
	}
	ctx := c.UserContext()
	if err := s.setPassword(ctx, u, *b.Password); err != nil {
		return err
	}
	if err := s.id.Store.CreateUser(ctx, t, u); err != nil {
		return err
	}
	s.audit(c, t, "user.create", u.ID, u.Username)
	s.changed(ChangeUsers, t)
	return c.Status(http.StatusCreated).JSON(u)
}

func (s *Server) getUser(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	u, err := s.id.Store.GetUser(c.UserContext(), t, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) patchUser(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b userBody
	if err := bind(c, &b); err != nil {
		return err
	}
	ctx := c.UserContext()
	u, err := s.id.Store.GetUser(ctx, t, c.Params("id"))
	if err != nil {
		return err
	}
	oldRole, oldDisabled := u.Role, u.Disabled
	b.apply(u)
	u.PasswordHash = ""
	if b.Password != nil {
		if err := s.setPassword(ctx, u, *b.Password); err != nil {
			return err
		}
	}
	if err := s.id.Store.UpdateUser(ctx, t, u); err != nil {
		return err
	}
	s.audit(c, t, "user.update", u.ID, "")
	if u.Role != oldRole || (u.Disabled && !oldDisabled) || b.Password != nil {
		// Sessions carry the role: end them so the user logs in afresh.
		s.endUserSessions(ctx, t, u.ID)
	}
	s.changed(ChangeUsers, t)
	return c.JSON(u)
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	id := c.Params("id")
	if err := s.id.Store.DeleteUser(ctx, t, id); err != nil {
		return err
	}
	s.endUserSessions(ctx, t, id)
	s.audit(c, t, "user.delete", id, "")
	s.changed(ChangeUsers, t)
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) endUserSessions(ctx context.Context, t tenant.ID, userID string) {
	if _, err := s.id.Sessions.DeleteUser(ctx, string(t), userID); err != nil {
		s.log.Warn("ending a user's sessions failed", "err", err)
	}
	s.announce(ctx, authz.Message{Kind: authz.KindUser, Tenant: string(t), ID: userID})
}

// ---- tokens (tenant admin)

type tokenBody struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at"`
	// ExpiresIn is a Go duration ("720h") as an alternative to ExpiresAt.
	ExpiresIn string `json:"expires_in"`
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	ts, err := s.id.Store.ListTokens(c.UserContext(), t)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tokens": ts})
}

// CreateToken makes an integrator API token for tenant t; the secret is
// returned once and only its hash is stored. Used by the REST route and the
// demo.
func (id *Identity) CreateToken(ctx context.Context, t tenant.ID, name, role string, expires *time.Time) (*tenant.Token, string, error) {
	if role == "" {
		role = tenant.RoleIntegrator
	}
	if name == "" || len(name) > 100 {
		return nil, "", Errorf(http.StatusBadRequest, "invalid", "name must be 1 to 100 characters")
	}
	if expires != nil && !expires.After(time.Now()) {
		return nil, "", Errorf(http.StatusBadRequest, "invalid", "expires_at must be in the future")
	}
	secret, hash, display, err := authz.NewAPIToken()
	if err != nil {
		return nil, "", err
	}
	tok := &tenant.Token{Tenant: t, Name: name, Role: role, Prefix: display, Hash: hash, ExpiresAt: expires}
	if err := id.Store.CreateToken(ctx, t, tok); err != nil {
		return nil, "", err
	}
	return tok, secret, nil
}

func (s *Server) createToken(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b tokenBody
	if err := bind(c, &b); err != nil {
		return err
	}
	if b.ExpiresIn != "" {
		d, err := time.ParseDuration(b.ExpiresIn)
		if err != nil || d <= 0 {
			return Errorf(http.StatusBadRequest, "invalid", "expires_in must be a positive duration such as 720h")
		}
		at := time.Now().Add(d).UTC()
		b.ExpiresAt = &at
	}
	if b.Role != "" && !knownRole(b.Role) {
		return Errorf(http.StatusBadRequest, "invalid", "role must be one of %s", strings.Join(authz.DefaultRoles, ", "))
	}
	if p := principal(c); p.Kind != KindPlatform && b.Role == tenant.RoleAdmin && p.Authz.Role != tenant.RoleAdmin {
		return Errorf(http.StatusForbidden, "forbidden", "only an admin may create admin tokens")
	}
	tok, secret, err := s.id.CreateToken(c.UserContext(), t, b.Name, b.Role, b.ExpiresAt)
	if err != nil {
		return err
	}
	s.audit(c, t, "token.create", tok.ID, tok.Name)
	return c.Status(http.StatusCreated).JSON(fiber.Map{"token": tok, "secret": secret,
		"note": "the secret is shown only now; store it safely"})
}

func knownRole(r string) bool {
	for _, k := range authz.DefaultRoles {
		if k == r {
			return true
		}
	}
	return false
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	id := c.Params("id")
	if err := s.id.Store.RevokeToken(ctx, t, id); err != nil {
		return err
	}
	s.announce(ctx, authz.Message{Kind: authz.KindToken, Tenant: string(t), ID: id})
	s.audit(c, t, "token.revoke", id, "")
	return c.SendStatus(http.StatusNoContent)
}

// ---- policies and audit

func (s *Server) getPolicies(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	lines, err := s.id.Authz.Policies(c.UserContext(), string(t))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"lines": lines})
}

func (s *Server) putPolicies(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b struct {
		Lines [][]string `json:"lines"`
	}
	if err := bind(c, &b); err != nil {
		return err
	}
	if err := s.id.Authz.SetPolicies(c.UserContext(), string(t), b.Lines); err != nil {
		if errors.Is(err, authz.ErrInvalidPolicy) {
			return Errorf(http.StatusBadRequest, "invalid", "%v", err)
		}
		return err
	}
	s.audit(c, t, "policy.replace", string(t), "")
	return c.JSON(fiber.Map{"lines": b.Lines})
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	es, err := s.id.Store.ListAudit(c.UserContext(), t, c.QueryInt("limit", 100))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entries": es})
}
