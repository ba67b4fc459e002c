package ari

import (
	"context"
	"net/http"
)

// Endpoints is the /endpoints resource.
type Endpoints struct{ c *Client }

// Endpoints returns the /endpoints resource.
func (c *Client) Endpoints() Endpoints { return Endpoints{c} }

// List returns every endpoint (GET /endpoints).
func (r Endpoints) List(ctx context.Context) ([]Endpoint, error) {
	var out []Endpoint
	err := r.c.do(ctx, request{op: "endpoints.list", method: http.MethodGet, path: []string{"endpoints"}}, &out)
	return out, err
}

// ListByTech returns the endpoints of one technology, e.g. "PJSIP".
func (r Endpoints) ListByTech(ctx context.Context, tech string) ([]Endpoint, error) {
	var out []Endpoint
	err := r.c.do(ctx, request{op: "endpoints.listByTech", method: http.MethodGet, path: []string{"endpoints", tech}}, &out)
	return out, err
}

// Get returns one endpoint, e.g. Get(ctx, "PJSIP", "1001"); ErrNotFound if
// it does not exist.
func (r Endpoints) Get(ctx context.Context, tech, resource string) (*Endpoint, error) {
	var out Endpoint
	if err := r.c.do(ctx, request{op: "endpoints.get", method: http.MethodGet, path: []string{"endpoints", tech, resource}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
