package ari

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Applications is the /applications resource.
type Applications struct{ c *Client }

// Applications returns the /applications resource.
func (c *Client) Applications() Applications { return Applications{c} }

// List returns every Stasis application (GET /applications).
func (r Applications) List(ctx context.Context) ([]Application, error) {
	var out []Application
	err := r.c.do(ctx, request{op: "applications.list", method: http.MethodGet, path: []string{"applications"}}, &out)
	return out, err
}

// Get returns one application; ErrNotFound if it does not exist.
func (r Applications) Get(ctx context.Context, name string) (*Application, error) {
	var out Application
	if err := r.c.do(ctx, request{op: "applications.get", method: http.MethodGet, path: []string{"applications", name}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Subscribe subscribes an application to event sources, each
// "channel:<id>", "bridge:<id>", "endpoint:<tech>[/<resource>]" or
// "deviceState:<name>" (POST /applications/{name}/subscription). ARI takes
// multi-valued parameters comma-separated.
func (r Applications) Subscribe(ctx context.Context, name string, sources ...string) (*Application, error) {
	return r.subscription(ctx, "applications.subscribe", http.MethodPost, name, sources)
}

// Unsubscribe removes event sources from an application
// (DELETE /applications/{name}/subscription).
func (r Applications) Unsubscribe(ctx context.Context, name string, sources ...string) (*Application, error) {
	return r.subscription(ctx, "applications.unsubscribe", http.MethodDelete, name, sources)
}

func (r Applications) subscription(ctx context.Context, op, method, name string, sources []string) (*Application, error) {
	var out Application
	if err := r.c.do(ctx, request{op: op, method: method, path: []string{"applications", name, "subscription"},
		query: url.Values{"eventSource": {strings.Join(sources, ",")}}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EventFilter is the body of SetEventFilter. A nil list leaves that side of
// the filter unchanged; an empty non-nil list clears it (an empty Allowed
// allows everything; Disallowed wins over Allowed).
type EventFilter struct {
	Allowed    []string // event kinds, e.g. "StasisStart"
	Disallowed []string
}

type eventFilterType struct {
	Type string `json:"type"`
}

type eventFilterBody struct {
	Allowed    []eventFilterType `json:"allowed,omitzero"`
	Disallowed []eventFilterType `json:"disallowed,omitzero"`
}

func filterTypes(kinds []string) []eventFilterType {
	if kinds == nil {
		return nil
	}
	out := make([]eventFilterType, len(kinds))
	for i, k := range kinds {
		out[i].Type = k
	}
	return out
}

// SetEventFilter sets which event kinds the application receives
// (PUT /applications/{name}/eventFilter) and returns the application.
func (r Applications) SetEventFilter(ctx context.Context, name string, f EventFilter) (*Application, error) {
	body := eventFilterBody{Allowed: filterTypes(f.Allowed), Disallowed: filterTypes(f.Disallowed)}
	var out Application
	if err := r.c.do(ctx, request{op: "applications.filter", method: http.MethodPut, path: []string{"applications", name, "eventFilter"},
		body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
