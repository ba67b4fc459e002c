package ari

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Bridges is the /bridges resource.
type Bridges struct{ c *Client }

// Bridges returns the /bridges resource.
func (c *Client) Bridges() Bridges { return Bridges{c} }

// List returns every bridge (GET /bridges).
func (r Bridges) List(ctx context.Context) ([]Bridge, error) {
	var out []Bridge
	err := r.c.do(ctx, request{op: "bridges.list", method: http.MethodGet, path: []string{"bridges"}}, &out)
	return out, err
}

// Get returns one bridge; ErrNotFound if it does not exist.
func (r Bridges) Get(ctx context.Context, id string) (*Bridge, error) {
	var out Bridge
	if err := r.c.do(ctx, request{op: "bridges.get", method: http.MethodGet, path: []string{"bridges", id}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BridgeRequest is the parameters of Create.
type BridgeRequest struct {
	// Type is a comma-separated list of bridge type attributes: mixing,
	// holding, dtmf_events, proxy_media, video_sfu, video_single, sdp_label.
	// "" lets Asterisk choose (mixing).
	Type string
	// ID is the bridge id; "" lets Asterisk generate one.
	ID   string
	Name string
}

// Create creates a bridge (POST /bridges, or POST /bridges/{id} when req.ID
// is set). ErrConflict if the id is taken.
func (r Bridges) Create(ctx context.Context, req BridgeRequest) (*Bridge, error) {
	q := url.Values{}
	setIf(q, "type", req.Type)
	setIf(q, "name", req.Name)
	rq := request{op: "bridges.create", method: http.MethodPost, path: []string{"bridges"}, query: q}
	if req.ID != "" {
		rq.op, rq.path = "bridges.createWithId", []string{"bridges", req.ID}
	}
	var out Bridge
	if err := r.c.do(ctx, rq, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddChannelOptions are the optional parameters of AddChannel.
type AddChannelOptions struct {
	Role                        string // e.g. "announcer", "participant"
	AbsorbDTMF                  bool
	Mute                        bool
	InhibitConnectedLineUpdates bool
}

// AddChannel adds channels to a bridge (POST /bridges/{id}/addChannel).
// ErrUnprocessable if a channel is not in a Stasis application.
func (r Bridges) AddChannel(ctx context.Context, id string, channelIDs []string, opt AddChannelOptions) error {
	q := url.Values{"channel": {strings.Join(channelIDs, ",")}}
	setIf(q, "role", opt.Role)
	if opt.AbsorbDTMF {
		q.Set("absorbDTMF", strconv.FormatBool(true))
	}
	if opt.Mute {
		q.Set("mute", strconv.FormatBool(true))
	}
	if opt.InhibitConnectedLineUpdates {
		q.Set("inhibitConnectedLineUpdates", strconv.FormatBool(true))
	}
	return r.c.do(ctx, request{op: "bridges.addChannel", method: http.MethodPost, path: []string{"bridges", id, "addChannel"}, query: q}, nil)
}

// RemoveChannel removes channels from a bridge
// (POST /bridges/{id}/removeChannel).
func (r Bridges) RemoveChannel(ctx context.Context, id string, channelIDs []string) error {
	q := url.Values{"channel": {strings.Join(channelIDs, ",")}}
	return r.c.do(ctx, request{op: "bridges.removeChannel", method: http.MethodPost, path: []string{"bridges", id, "removeChannel"}, query: q}, nil)
}

// Destroy shuts a bridge down (DELETE /bridges/{id}); its channels stay.
func (r Bridges) Destroy(ctx context.Context, id string) error {
	return r.c.do(ctx, request{op: "bridges.destroy", method: http.MethodDelete, path: []string{"bridges", id}}, nil)
}
