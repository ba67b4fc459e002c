package ari

import (
	"context"
	"net/http"
	"net/url"
)

// DeviceStates is the /deviceStates resource. Only devices named
// "Stasis:<name>" can be updated or deleted (ErrConflict otherwise).
type DeviceStates struct{ c *Client }

// DeviceStates returns the /deviceStates resource.
func (c *Client) DeviceStates() DeviceStates { return DeviceStates{c} }

// Device states accepted by Update (the DeviceState model's values).
const (
	DeviceStateUnknown     = "UNKNOWN"
	DeviceStateNotInUse    = "NOT_INUSE"
	DeviceStateInUse       = "INUSE"
	DeviceStateBusy        = "BUSY"
	DeviceStateInvalid     = "INVALID"
	DeviceStateUnavailable = "UNAVAILABLE"
	DeviceStateRinging     = "RINGING"
	DeviceStateRingInUse   = "RINGINUSE"
	DeviceStateOnHold      = "ONHOLD"
)

// List returns every device state (GET /deviceStates).
func (r DeviceStates) List(ctx context.Context) ([]DeviceState, error) {
	var out []DeviceState
	err := r.c.do(ctx, request{op: "deviceStates.list", method: http.MethodGet, path: []string{"deviceStates"}}, &out)
	return out, err
}

// Get returns one device's state, e.g. Get(ctx, "PJSIP/1001").
func (r DeviceStates) Get(ctx context.Context, name string) (*DeviceState, error) {
	var out DeviceState
	if err := r.c.do(ctx, request{op: "deviceStates.get", method: http.MethodGet, path: []string{"deviceStates", name}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update sets a Stasis device's state (PUT /deviceStates/{name}).
func (r DeviceStates) Update(ctx context.Context, name, state string) error {
	return r.c.do(ctx, request{op: "deviceStates.update", method: http.MethodPut, path: []string{"deviceStates", name},
		query: url.Values{"deviceState": {state}}}, nil)
}

// Delete destroys a Stasis device state (DELETE /deviceStates/{name}).
func (r DeviceStates) Delete(ctx context.Context, name string) error {
	return r.c.do(ctx, request{op: "deviceStates.delete", method: http.MethodDelete, path: []string{"deviceStates", name}}, nil)
}
