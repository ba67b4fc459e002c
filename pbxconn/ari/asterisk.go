package ari

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Asterisk is the /asterisk resource.
type Asterisk struct{ c *Client }

// Asterisk returns the /asterisk resource.
func (c *Client) Asterisk() Asterisk { return Asterisk{c} }

// Info returns the system information (GET /asterisk/info); only, if given,
// restricts it to some of "build", "system", "config", "status".
func (r Asterisk) Info(ctx context.Context, only ...string) (*AsteriskInfo, error) {
	var q url.Values
	if len(only) > 0 {
		q = url.Values{"only": {strings.Join(only, ",")}}
	}
	var out AsteriskInfo
	if err := r.c.do(ctx, request{op: "asterisk.getInfo", method: http.MethodGet, path: []string{"asterisk", "info"}, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ping checks that Asterisk answers (GET /asterisk/ping).
func (r Asterisk) Ping(ctx context.Context) (*AsteriskPing, error) {
	var out AsteriskPing
	if err := r.c.do(ctx, request{op: "asterisk.ping", method: http.MethodGet, path: []string{"asterisk", "ping"}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetVariable returns a global variable (GET /asterisk/variable).
func (r Asterisk) GetVariable(ctx context.Context, name string) (string, error) {
	var out Variable
	err := r.c.do(ctx, request{op: "asterisk.getGlobalVar", method: http.MethodGet, path: []string{"asterisk", "variable"},
		query: url.Values{"variable": {name}}}, &out)
	return out.Value, err
}
