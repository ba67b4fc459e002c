package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/pbxconn/ami"
	"github.com/hookflash/hookflash/pbxconn/ari"
	"github.com/hookflash/hookflash/tenant"
)

// ChangeKind names what an admin change touched, for Config.OnChange.
type ChangeKind int

const (
	ChangePBXes  ChangeKind = iota + 1 // PBXes changed: connectors re-read
	ChangeUsers                        // users or terminals changed: directories re-read
	ChangeTenant                       // a tenant changed (privacy, enabled) or was deleted
)

func (s *Server) changed(k ChangeKind, t tenant.ID) {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(k, t)
	}
}

type pbxBody struct {
	Name        *string `json:"name"`
	Enabled     *bool   `json:"enabled"`
	ARIURL      *string `json:"ari_url"`
	ARIUser     *string `json:"ari_user"`
	ARIPassword *string `json:"ari_password"`
	ARIApp      *string `json:"ari_app"`
	AMIAddr     *string `json:"ami_addr"`
	AMIUser     *string `json:"ami_user"`
	AMISecret   *string `json:"ami_secret"`
	TLSCA       *string `json:"tls_ca"`
	TLSSkip     *bool   `json:"tls_insecure_skip_verify"`
}

func (b *pbxBody) apply(p *tenant.PBX) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&p.Name, b.Name)
	set(&p.ARIURL, b.ARIURL)
	set(&p.ARIUser, b.ARIUser)
	set(&p.ARIApp, b.ARIApp)
	set(&p.AMIAddr, b.AMIAddr)
	set(&p.AMIUser, b.AMIUser)
	set(&p.TLSCA, b.TLSCA)
	set(&p.Secrets.ARIPassword, b.ARIPassword)
	set(&p.Secrets.AMISecret, b.AMISecret)
	if b.Enabled != nil {
		p.Enabled = *b.Enabled
	}
	if b.TLSSkip != nil {
		p.TLSSkip = *b.TLSSkip
	}
}

// checkPBX validates addresses before they are stored, so connectors never
// chew on garbage.
func checkPBX(p *tenant.PBX) error {
	u, err := url.Parse(p.ARIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(http.StatusBadRequest, "invalid", "ari_url must be an http(s) URL such as http://pbx:8088/ari")
	}
	if _, _, err := net.SplitHostPort(p.AMIAddr); err != nil {
		return Errorf(http.StatusBadRequest, "invalid", "ami_addr must be host:port such as pbx:5038")
	}
	if p.ARIUser == "" || p.AMIUser == "" {
		return Errorf(http.StatusBadRequest, "invalid", "ari_user and ami_user are required")
	}
	if p.ARIApp == "" {
		p.ARIApp = "hookflash"
	}
	return nil
}

func (s *Server) listPBXes(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	ps, err := s.id.Store.ListPBXes(c.UserContext(), t)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"pbxes": ps})
}

func (s *Server) createPBX(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b pbxBody
	if err := bind(c, &b); err != nil {
		return err
	}
	p := &tenant.PBX{Enabled: true}
	b.apply(p)
	if err := checkPBX(p); err != nil {
		return err
	}
	if p.Secrets.ARIPassword == "" || p.Secrets.AMISecret == "" {
		return Errorf(http.StatusBadRequest, "invalid", "ari_password and ami_secret are required")
	}
	ctx := c.UserContext()
	if tt, err := s.id.Store.GetTenant(ctx, t); err == nil && tt.Limits.MaxPBXes > 0 {
		if ps, err := s.id.Store.ListPBXes(ctx, t); err == nil && len(ps) >= tt.Limits.MaxPBXes {
			return Errorf(http.StatusConflict, "limit_reached", "the tenant may have at most %d PBXes", tt.Limits.MaxPBXes)
		}
	}
	if err := s.id.Store.CreatePBX(ctx, t, p); err != nil {
		return err
	}
	p.Secrets = tenant.PBXSecrets{}
	s.audit(c, t, "pbx.create", p.ID, p.Name)
	s.changed(ChangePBXes, t)
	return c.Status(http.StatusCreated).JSON(p)
}

func (s *Server) getPBX(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	p, err := s.id.Store.GetPBX(c.UserContext(), t, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) patchPBX(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	var b pbxBody
	if err := bind(c, &b); err != nil {
		return err
	}
	ctx := c.UserContext()
	p, err := s.id.Store.GetPBX(ctx, t, c.Params("id"))
	if err != nil {
		return err
	}
	b.apply(p)
	if err := checkPBX(p); err != nil {
		return err
	}
	if err := s.id.Store.UpdatePBX(ctx, t, p); err != nil {
		return err
	}
	p.Secrets = tenant.PBXSecrets{}
	s.audit(c, t, "pbx.update", p.ID, "")
	s.changed(ChangePBXes, t)
	return c.JSON(p)
}

func (s *Server) deletePBX(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if err := s.id.Store.DeletePBX(c.UserContext(), t, id); err != nil {
		return err
	}
	s.audit(c, t, "pbx.delete", id, "")
	s.changed(ChangePBXes, t)
	return c.SendStatus(http.StatusNoContent)
}

// testPBX tries both connections of a stored PBX and reports each.
func (s *Server) testPBX(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
	defer cancel()
	p, err := s.id.Store.GetPBX(ctx, t, c.Params("id"))
	if err != nil {
		return err
	}
	sec, err := s.id.Store.PBXSecrets(ctx, t, p.ID)
	if err != nil {
		return err
	}
	res := fiber.Map{"ari": probeARI(ctx, p, sec), "ami": probeAMI(ctx, p, sec)}
	ok := res["ari"].(fiber.Map)["ok"] == true && res["ami"].(fiber.Map)["ok"] == true
	res["ok"] = ok
	return c.JSON(res)
}

func probeARI(ctx context.Context, p *tenant.PBX, sec tenant.PBXSecrets) fiber.Map {
	start := time.Now()
	cl, err := ari.New(ari.Config{URL: p.ARIURL, Username: p.ARIUser, Password: sec.ARIPassword, Application: p.ARIApp, CAPEM: []byte(p.TLSCA)})
	if err != nil {
		return fiber.Map{"ok": false, "error": err.Error()}
	}
	defer cl.CloseIdleConnections()
	info, err := cl.Asterisk().Info(ctx)
	if err != nil {
		return fiber.Map{"ok": false, "error": err.Error(), "ms": time.Since(start).Milliseconds()}
	}
	out := fiber.Map{"ok": true, "ms": time.Since(start).Milliseconds()}
	if info != nil && info.System != nil {
		out["version"] = info.System.Version
	}
	return out
}

func probeAMI(ctx context.Context, p *tenant.PBX, sec tenant.PBXSecrets) fiber.Map {
	start := time.Now()
	cl, err := ami.Dial(ctx, ami.Config{Addr: p.AMIAddr, Username: p.AMIUser, Secret: sec.AMISecret, PingInterval: -1})
	if err != nil {
		return fiber.Map{"ok": false, "error": err.Error(), "ms": time.Since(start).Milliseconds()}
	}
	defer cl.Close()
	if _, err := cl.Do(ctx, ami.Message{Fields: []ami.Field{{Key: "Action", Value: "Ping"}}}); err != nil {
		return fiber.Map{"ok": false, "error": fmt.Sprintf("ping: %v", err), "ms": time.Since(start).Milliseconds()}
	}
	return fiber.Map{"ok": true, "ms": time.Since(start).Milliseconds()}
}
