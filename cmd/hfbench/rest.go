package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

var apiHTTP = &http.Client{Timeout: 15 * time.Second}

// apiCall sends one REST request and decodes the JSON answer into out (if
// non-nil). A status other than want is an error carrying the body.
func apiCall(ctx context.Context, method, url, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, url, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := apiHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, url, err)
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d (want %d): %s", method, url, res.StatusCode, want, tail(raw, 300))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, url, err)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tenantFix is one tenant of a run with its principals.
type tenantFix struct {
	domain     string
	adminToken string   // session of the tenant admin (full_events allowed)
	integrator string   // an integrator API token (sees the whole tenant)
	users      []string // sessions of agents 1001…, one per simulated extension
}

// setupTenant creates a tenant through base with an admin, an integrator
// token and nUsers agents on the simulator's extensions 1001…
func setupTenant(ctx context.Context, base string, nUsers int) (*tenantFix, error) {
	tf := &tenantFix{domain: "bench" + randomHex(4) + ".example"}
	const adminPass = "bench-admin-password"
	if err := apiCall(ctx, "POST", base+"/api/v1/tenants", benchAdminToken, map[string]any{
		"domain": tf.domain, "name": "Bench " + tf.domain,
		"admin": map[string]any{"username": "boss", "password": adminPass, "name": "Boss"},
	}, nil, 201); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := apiCall(ctx, "POST", base+"/api/v1/auth/login", "", map[string]any{
		"domain": tf.domain, "username": "boss", "password": adminPass}, &login, 200); err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	tf.adminToken = login.Token
	var tok struct {
		Secret string `json:"secret"`
	}
	if err := apiCall(ctx, "POST", base+"/api/v1/tokens", tf.adminToken, map[string]any{"name": "bench-crm"}, &tok, 201); err != nil {
		return nil, fmt.Errorf("integrator token: %w", err)
	}
	tf.integrator = tok.Secret
	for i := 0; i < nUsers; i++ {
		ext := fmt.Sprint(1001 + i)
		name, pass := "agent"+ext, "agent-password-"+ext
		if err := apiCall(ctx, "POST", base+"/api/v1/users", tf.adminToken, map[string]any{
			"username": name, "password": pass, "role": "agent", "name": "Agent " + ext,
			"terminals": []string{"PJSIP/" + ext, "Local/" + ext + "@agents"}}, nil, 201); err != nil {
			return nil, fmt.Errorf("create user %s: %w", name, err)
		}
		var ul struct {
			Token string `json:"token"`
		}
		if err := apiCall(ctx, "POST", base+"/api/v1/auth/login", "", map[string]any{
			"domain": tf.domain, "username": name, "password": pass}, &ul, 200); err != nil {
			return nil, fmt.Errorf("login %s: %w", name, err)
		}
		tf.users = append(tf.users, ul.Token)
	}
	return tf, nil
}

// addPBX registers a simulated PBX with the tenant; amiAddr overrides the
// simulator's AMI address (a counting proxy) when non-empty.
func addPBX(ctx context.Context, base string, tf *tenantFix, sim *pbxsim.PBX, amiAddr string) (string, error) {
	au, ap := sim.ARICredentials()
	mu, ms := sim.AMICredentials()
	if amiAddr == "" {
		amiAddr = sim.AMIAddr()
	}
	var out struct {
		ID string `json:"id"`
	}
	err := apiCall(ctx, "POST", base+"/api/v1/pbxes", tf.adminToken, map[string]any{
		"name": sim.Name(), "ari_url": sim.ARIURL(), "ari_user": au, "ari_password": ap, "ari_app": "cti",
		"ami_addr": amiAddr, "ami_user": mu, "ami_secret": ms}, &out, 201)
	if err != nil {
		return "", fmt.Errorf("add pbx %s: %w", sim.Name(), err)
	}
	return out.ID, nil
}

// wsURL is the feed URL of base for token with extra query (no leading &).
func wsURL(base, token, query string) string {
	u := strings.Replace(base, "http://", "ws://", 1) + "/api/v1/ws?token=" + token
	if query != "" {
		u += "&" + query
	}
	return u
}
