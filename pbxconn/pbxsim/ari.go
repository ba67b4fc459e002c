package pbxsim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
)

// ariHandler serves the ARI REST resources and the events WebSocket.
func (p *PBX) ariHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/asterisk/info", p.ariInfo)
	mux.HandleFunc("GET /ari/channels", p.ariChannels)
	mux.HandleFunc("POST /ari/channels", p.ariOriginate)
	mux.HandleFunc("GET /ari/channels/{id}", p.ariChannel)
	mux.HandleFunc("DELETE /ari/channels/{id}", p.ariHangup)
	mux.HandleFunc("POST /ari/channels/{id}/{op}", p.ariChannelOp)
	mux.HandleFunc("DELETE /ari/channels/{id}/{op}", p.ariChannelOp)
	mux.HandleFunc("GET /ari/bridges", p.ariListBridges)
	mux.HandleFunc("POST /ari/bridges", p.ariBridgeCreate)
	mux.HandleFunc("GET /ari/bridges/{id}", p.ariBridge)
	mux.HandleFunc("DELETE /ari/bridges/{id}", p.ariBridgeOp)
	mux.HandleFunc("POST /ari/bridges/{id}/{op}", p.ariBridgeOp)
	mux.HandleFunc("DELETE /ari/bridges/{id}/{op}", p.ariBridgeOp)
	mux.HandleFunc("GET /ari/endpoints", p.ariEndpoints)
	mux.HandleFunc("GET /ari/deviceStates", p.ariDeviceStates)
	mux.HandleFunc("GET /ari/deviceStates/{name...}", p.ariDeviceState)
	mux.HandleFunc("PUT /ari/deviceStates/{name...}", p.ariDeviceStatePut)
	mux.HandleFunc("DELETE /ari/deviceStates/{name...}", p.ariDeviceStateDelete)
	mux.HandleFunc("GET /ari/applications", p.ariApplications)
	mux.HandleFunc("GET /ari/applications/{app}", p.ariApplication)
	mux.HandleFunc("PUT /ari/applications/{app}/eventFilter", p.ariEventFilter)
	mux.HandleFunc("GET /ari/events", p.ariEvents)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.ariAuth(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
			ariError(w, http.StatusUnauthorized, "Authentication required")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (p *PBX) ariAuth(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if k := r.URL.Query().Get("api_key"); k != "" {
			user, pass, ok = strings.Cut(k, ":")
		}
	}
	if !ok {
		return false
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(p.cfg.ARIUser))
	pw := subtle.ConstantTimeCompare([]byte(pass), []byte(p.cfg.ARIPassword))
	return u&pw == 1
}

func ariError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func ariJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ariError(w, http.StatusInternalServerError, "Internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (p *PBX) ariInfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	start := p.startup.UTC().Format(isoLayout)
	p.mu.Unlock()
	var info asteriskInfo
	info.Build.OS, info.Build.Kernel, info.Build.Machine = "Linux", "6.18.44-fc-v657", "x86_64"
	info.Build.Options, info.Build.Date, info.Build.User = "OPTIONAL_API", "2026-11-23 13:58:02 UTC", "root"
	info.System.Version, info.System.EntityID = "22.10.1", p.cfg.EntityID
	info.Config.DefaultLanguage = "en"
	info.Status.StartupTime, info.Status.LastReloadTime = start, start
	ariJSON(w, info)
}

// asteriskInfo is GET /asterisk/info, members in Asterisk's order.
type asteriskInfo struct {
	Build struct {
		OS      string `json:"os"`
		Kernel  string `json:"kernel"`
		Machine string `json:"machine"`
		Options string `json:"options"`
		Date    string `json:"date"`
		User    string `json:"user"`
	} `json:"build"`
	System struct {
		Version  string `json:"version"`
		EntityID string `json:"entity_id"`
	} `json:"system"`
	Config struct {
		Name            string `json:"name"`
		DefaultLanguage string `json:"default_language"`
		Setid           struct {
			User  string `json:"user"`
			Group string `json:"group"`
		} `json:"setid"`
	} `json:"config"`
	Status struct {
		StartupTime    string `json:"startup_time"`
		LastReloadTime string `json:"last_reload_time"`
	} `json:"status"`
}

func (p *PBX) ariChannels(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	list := make([]*ariChan, 0, len(p.ariChans))
	for _, c := range p.ariChans {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	out := make([]json.RawMessage, len(list))
	for i, c := range list {
		out[i] = append(json.RawMessage(nil), c.obj...)
	}
	p.mu.Unlock()
	ariJSON(w, out)
}

func (p *PBX) ariChannel(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	c := p.ariChans[r.PathValue("id")]
	var obj json.RawMessage
	if c != nil {
		obj = append(obj, c.obj...)
	}
	p.mu.Unlock()
	if c == nil {
		ariError(w, http.StatusNotFound, "Channel not found")
		return
	}
	ariJSON(w, obj)
}

func (p *PBX) ariOriginate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := r.ParseForm(); err == nil {
		for k, v := range r.PostForm {
			if q.Get(k) == "" && len(v) > 0 {
				q.Set(k, v[0])
			}
		}
	}
	if r.Header.Get("Content-Type") == "application/json" {
		var body map[string]any
		if json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body) == nil {
			for k, v := range body {
				if s, ok := v.(string); ok && q.Get(k) == "" {
					q.Set(k, s)
				}
			}
		}
	}
	ep := q.Get("endpoint")
	if ep == "" {
		ariError(w, http.StatusBadRequest, "Endpoint must be specified")
		return
	}
	obj, err := p.Originate(OriginateRequest{Endpoint: ep, Extension: q.Get("extension"), Context: q.Get("context"), App: q.Get("app")})
	if err != nil {
		ariError(w, http.StatusBadRequest, "Allocation failed: "+err.Error())
		return
	}
	ariJSON(w, obj)
}

func (p *PBX) ariHangup(w http.ResponseWriter, r *http.Request) {
	reason := r.URL.Query().Get("reason")
	if reason == "" {
		reason = r.URL.Query().Get("reason_code")
	}
	switch reason {
	case "", "normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
		"normal_unspecified", "number_incomplete", "codec_mismatch", "interworking", "failure", "answered_elsewhere":
	default:
		if strings.Trim(reason, "0123456789") != "" {
			ariError(w, http.StatusBadRequest, "Invalid reason for hangup provided")
			return
		}
	}
	if err := p.Hangup(r.PathValue("id"), reason); err != nil {
		ariStatus(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func ariStatus(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNoChannel):
		ariError(w, http.StatusNotFound, "Channel not found")
	case errors.Is(err, ErrNotFound):
		ariError(w, http.StatusNotFound, "Not found")
	case errors.Is(err, errNotInStasis):
		ariError(w, http.StatusConflict, "Channel not in Stasis application")
	case errors.Is(err, ErrBadRequest):
		ariError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": "))
	default:
		ariError(w, http.StatusInternalServerError, err.Error())
	}
}

var errNotInStasis = errors.New("channel not in Stasis application")

// ariChannelOp serves the per-channel operations that need a Stasis channel.
func (p *PBX) ariChannelOp(w http.ResponseWriter, r *http.Request) {
	id, op := r.PathValue("id"), r.PathValue("op")
	switch op {
	case "hold", "mute", "moh", "dtmf", "redirect", "answer", "snoop", "continue", "ring", "silence", "play", "record", "variable":
	default:
		ariError(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Method == http.MethodDelete && op != "hold" && op != "mute" && op != "moh" && op != "ring" && op != "silence" {
		ariError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if op == "dtmf" && r.URL.Query().Get("dtmf") == "" {
		ariError(w, http.StatusBadRequest, "DTMF is required")
		return
	}
	if op == "redirect" && r.URL.Query().Get("endpoint") == "" {
		ariError(w, http.StatusBadRequest, "Required parameter endpoint not present")
		return
	}
	if op == "snoop" {
		q := r.URL.Query()
		obj, err := p.Snoop(id, q.Get("app"), q.Get("spy"), q.Get("whisper"))
		if err != nil {
			ariStatus(w, err)
			return
		}
		ariJSON(w, obj)
		return
	}
	kind := op
	if op == "hold" && r.Method == http.MethodDelete {
		kind = trigUnhold
	}
	if err := p.stasisOp(id, kind, r.URL.Query().Get("extension")); err != nil {
		ariStatus(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *PBX) ariListBridges(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	list := make([]*ariBridge, 0, len(p.ariBridges))
	for _, b := range p.ariBridges {
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	out := make([]json.RawMessage, len(list))
	for i, b := range list {
		out[i] = append(json.RawMessage(nil), b.obj...)
	}
	p.mu.Unlock()
	ariJSON(w, out)
}

func (p *PBX) ariBridge(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	b := p.ariBridges[r.PathValue("id")]
	var obj json.RawMessage
	if b != nil {
		obj = append(obj, b.obj...)
	}
	p.mu.Unlock()
	if b == nil {
		ariError(w, http.StatusNotFound, "Bridge not found")
		return
	}
	ariJSON(w, obj)
}

func (p *PBX) ariBridgeCreate(w http.ResponseWriter, r *http.Request) {
	obj, err := p.bridgeOp("", trigBridgeNew)
	if err != nil {
		ariStatus(w, err)
		return
	}
	ariJSON(w, obj)
}

func (p *PBX) ariBridgeOp(w http.ResponseWriter, r *http.Request) {
	kind := ""
	switch op := r.PathValue("op"); {
	case r.Method == http.MethodDelete && op == "":
		kind = trigBridgeDel
	case op == "addChannel" && r.Method == http.MethodPost:
		kind = trigAddChan
	case op == "moh" && r.Method == http.MethodPost:
		kind = trigBridgeMOH
	case op == "moh" && r.Method == http.MethodDelete:
		kind = trigBridgeOff
	default:
		ariError(w, http.StatusNotFound, "Not found")
		return
	}
	if _, err := p.bridgeOp(r.PathValue("id"), kind); err != nil {
		if errors.Is(err, ErrNotFound) {
			ariError(w, http.StatusNotFound, "Bridge not found")
			return
		}
		ariStatus(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type ariEndpoint struct {
	Technology string   `json:"technology"`
	Resource   string   `json:"resource"`
	State      string   `json:"state"`
	ChannelIDs []string `json:"channel_ids"`
}

// endpointJSON builds the endpoint object. Caller holds p.mu.
func (p *PBX) endpointJSON(e *endpoint) ariEndpoint {
	st := "offline"
	if e.online {
		st = "online"
	}
	ids := []string{}
	prefix := "PJSIP/" + e.resource + "-"
	list := make([]*ariChan, 0)
	for _, c := range p.ariChans {
		if strings.HasPrefix(c.name, prefix) {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	for _, c := range list {
		ids = append(ids, c.id)
	}
	return ariEndpoint{Technology: "PJSIP", Resource: e.resource, State: st, ChannelIDs: ids}
}

func (p *PBX) ariEndpoints(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	out := make([]ariEndpoint, 0, len(p.endpoints))
	for _, e := range p.endpoints {
		out = append(out, p.endpointJSON(e))
	}
	p.mu.Unlock()
	ariJSON(w, out)
}

type ariDevState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

func (p *PBX) ariDeviceStates(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	out := make([]ariDevState, 0, len(p.stasisOrder))
	for _, n := range p.stasisOrder {
		out = append(out, ariDevState{n, p.stasisDevs[n]})
	}
	p.mu.Unlock()
	ariJSON(w, out)
}

func (p *PBX) ariDeviceState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p.mu.Lock()
	st, ok := p.stasisDevs[name]
	p.mu.Unlock()
	if !ok {
		ariError(w, http.StatusNotFound, "Device state not found")
		return
	}
	ariJSON(w, ariDevState{name, st})
}

func (p *PBX) ariDeviceStatePut(w http.ResponseWriter, r *http.Request) {
	if err := p.SetDeviceState(r.PathValue("name"), r.URL.Query().Get("deviceState")); err != nil {
		ariStatus(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *PBX) ariDeviceStateDelete(w http.ResponseWriter, r *http.Request) {
	if err := p.DeleteDeviceState(r.PathValue("name")); err != nil {
		if errors.Is(err, ErrNotFound) {
			ariError(w, http.StatusNotFound, "Device state not found")
			return
		}
		ariStatus(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
