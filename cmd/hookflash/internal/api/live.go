package api

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/hookflash/hookflash/authz"
	"github.com/hookflash/hookflash/hub"
	"github.com/hookflash/hookflash/tenant"
)

func (s *Server) mountLive() {
	s.v1.Get("/calls", s.authenticated, s.liveView("channel"))
	s.v1.Get("/groups", s.authenticated, s.liveView("group", "group_member", "queued_channel"))
	s.v1.Get("/parked", s.authenticated, s.liveView("parked_channel"))
	s.v1.Get("/history", s.authenticated, s.history)
}

// scopeOf compiles the request principal's scope (REST never uses
// full_events: integrators and admins see what their policy grants).
func (s *Server) scopeOf(c *fiber.Ctx) (*authz.Scope, error) {
	p := principal(c)
	if p.Kind == KindPlatform {
		return nil, Errorf(http.StatusForbidden, "forbidden", "the platform admin has no tenant view; use a tenant token")
	}
	sc, err := s.id.Authz.Scope(p.Authz, s.id.Authz.Can(p.Authz, authz.ObjFullEvents, authz.ActUse))
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// liveView returns the tenant's current elements of the given kinds, with
// the same visibility and masking as the feed: {"channel":[…], "seq":N}.
func (s *Server) liveView(kinds ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := s.scopeOf(c)
		if err != nil {
			return err
		}
		if s.cfg.Broker == nil {
			return Errorf(http.StatusServiceUnavailable, "unavailable", "no live state on this server")
		}
		p := principal(c)
		snap, err := s.cfg.Broker.Snapshot(c.UserContext(), hub.Tenant(p.Tenant))
		if err != nil {
			return err
		}
		var masker *authz.Masker
		if sc.Masked() && s.cfg.Masker != nil {
			masker = s.cfg.Masker(p.Tenant)
		}
		out := map[string]any{"epoch": snap.Epoch, "seq": snap.Seq}
		for _, k := range kinds {
			out[k] = []json.RawMessage{}
		}
		for _, e := range snap.Elements {
			list, want := out[e.Element].([]json.RawMessage)
			if !want || !sc.Visible(e.Element, e.Audience) {
				continue
			}
			data := e.Data
			if masker != nil {
				if data, err = masker.MaskJSON(data); err != nil {
					continue
				}
			}
			out[e.Element] = append(list, data)
		}
		return c.JSON(out)
	}
}

// history lists completed calls: ?from=&to= (RFC 3339), user, direction,
// queue, limit, cursor; ?format=csv (or Accept: text/csv) for CSV. A user
// whose scope sees only own channels gets only calls they took part in.
func (s *Server) history(c *fiber.Ctx) error {
	sc, err := s.scopeOf(c)
	if err != nil {
		return err
	}
	p := principal(c)
	q := tenant.CallQuery{User: c.Query("user"), Direction: c.Query("direction"), Queue: c.Query("queue"), Cursor: c.Query("cursor")}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Errorf(http.StatusBadRequest, "invalid", "%s must be an RFC 3339 time such as 2026-11-23T00:00:00Z", name)
			}
			*dst = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return Errorf(http.StatusBadRequest, "invalid", "limit must be 1 to 1000")
		}
		q.Limit = n
	}
	switch q.Direction {
	case "", "inbound", "outbound", "internal":
	default:
		return Errorf(http.StatusBadRequest, "invalid", "direction must be inbound, outbound or internal")
	}
	if !sc.ChannelsAll() {
		if p.Authz.UserID == "" {
			return Errorf(http.StatusForbidden, "forbidden", "this principal sees no call history")
		}
		if q.User != "" && q.User != p.Authz.UserID {
			return Errorf(http.StatusForbidden, "forbidden", "you may read only your own calls")
		}
		q.User = p.Authz.UserID
	}
	calls, next, err := s.id.Store.ListCalls(c.UserContext(), p.Tenant, q)
	if err != nil {
		return err
	}
	if sc.Masked() && s.cfg.Masker != nil {
		if m := s.cfg.Masker(p.Tenant); m != nil {
			for i := range calls {
				calls[i].From, calls[i].To = m.MaskString(calls[i].From), m.MaskString(calls[i].To)
			}
		}
	}
	if c.Query("format") == "csv" || strings.Contains(c.Get(fiber.HeaderAccept), "text/csv") {
		return writeCallsCSV(c, calls, next)
	}
	if calls == nil {
		calls = []tenant.Call{}
	}
	return c.JSON(fiber.Map{"calls": calls, "next_cursor": next, "storage": s.cfg.HistoryStorage})
}

func writeCallsCSV(c *fiber.Ctx, calls []tenant.Call, next string) error {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="calls.csv"`)
	if next != "" {
		c.Set("X-Next-Cursor", next)
	}
	w := csv.NewWriter(c)
	_ = w.Write([]string{"linked_id", "pbx_id", "direction", "from", "from_name", "to", "users", "queue", "answered", "abandoned", "disposition", "started_at", "answered_at", "ended_at", "wait_s", "talk_s"})
	for _, k := range calls {
		ans := ""
		if k.AnsweredAt != nil {
			ans = k.AnsweredAt.UTC().Format(time.RFC3339)
		}
		_ = w.Write([]string{k.LinkedID, k.PBX, k.Direction, csvSafe(k.From), csvSafe(k.FromName), csvSafe(k.To), strings.Join(k.Users, " "), k.Queue,
			strconv.FormatBool(k.Answered), strconv.FormatBool(k.Abandoned), k.Disposition,
			k.StartedAt.UTC().Format(time.RFC3339), ans, k.EndedAt.UTC().Format(time.RFC3339),
			strconv.FormatFloat(k.WaitSec, 'f', 1, 64), strconv.FormatFloat(k.TalkSec, 'f', 1, 64)})
	}
	w.Flush()
	return w.Error()
}

// csvSafe defuses spreadsheet formula injection in caller-controlled text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
