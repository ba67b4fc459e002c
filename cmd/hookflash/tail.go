package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/mattn/go-isatty"
)

// runTail connects to the event feed and prints it, one line per message.
// When the socket drops it reconnects with since=<epoch>:<seq> so nothing is
// missed, and says so.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookflash tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr("HOOKFLASH_URL", "http://127.0.0.1:8080"), "server base URL [HOOKFLASH_URL]")
	token := fs.String("token", os.Getenv("HOOKFLASH_TOKEN"), "API or session token [HOOKFLASH_TOKEN]")
	full := fs.Bool("full-events", false, "ask for the whole tenant's events (admins)")
	raw := fs.Bool("json", false, "print each message as received (JSON lines)")
	elements := fs.String("element", "", "only these element kinds (comma-separated), e.g. channel,group")
	once := fs.Bool("once", false, "exit after the initial snapshot")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hookflash tail --url http://host:8080 --token TOKEN [flags]\n\nPrints the live event feed, one line per event.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *token == "" {
		return errors.New("no token: pass --token or set HOOKFLASH_TOKEN (see demo-credentials.json)")
	}
	p := &tailPrinter{w: stdout, color: isTTY(stdout), raw: *raw, only: splitSet(*elements)}
	var since string
	backoff := 500 * time.Millisecond
	for {
		wsURL, err := feedURL(*base, *full, since)
		if err != nil {
			return err
		}
		err = tailOnce(ctx, wsURL, *token, p, *once, &since)
		if ctx.Err() != nil || (err == nil && *once) {
			return nil
		}
		var fatal *fatalTailError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		wait := time.Duration(rand.Int64N(int64(backoff))) + 100*time.Millisecond
		p.note("disconnected (%v); reconnecting in %s", err, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

type fatalTailError struct{ err error }

func (e *fatalTailError) Error() string { return e.err.Error() }

func feedURL(base string, full bool, since string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("bad --url %q: want e.g. http://127.0.0.1:8080", base)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("bad --url scheme %q: want http, https, ws or wss", u.Scheme)
	}
	if !strings.HasSuffix(u.Path, "/api/v1/ws") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/ws"
	}
	q := u.Query()
	if full {
		q.Set("full_events", "true")
	}
	if since != "" {
		q.Set("since", since)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// tailOnce runs one connection; since is updated as events arrive.
func tailOnce(ctx context.Context, wsURL, token string, p *tailPrinter, once bool, since *string) error {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	h := http.Header{"Authorization": {"Bearer " + token}}
	conn, resp, err := d.DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return &fatalTailError{fmt.Errorf("refused (%s): %s", resp.Status, strings.TrimSpace(string(body)))}
		}
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if *since == "" {
		p.note("connected to %s", redactURL(wsURL))
	} else {
		p.note("reconnected, resuming after %s", *since)
	}
	kinds := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == 4001 || ce.Code == 4003) {
				return &fatalTailError{fmt.Errorf("closed by server: %d %s", ce.Code, ce.Text)}
			}
			return err
		}
		// A frame may carry several newline-separated messages (coalescing).
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var m feedMsg
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				p.note("unreadable message: %v", err)
				continue
			}
			if m.Epoch != "" && m.Seq > 0 {
				*since = fmt.Sprintf("%s:%d", m.Epoch, m.Seq)
			}
			p.print(&m, line)
			if m.Type == "initial_info" {
				kinds++
				if once && kinds >= 8 {
					return nil
				}
			}
		}
	}
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "…")
	}
	u.RawQuery = q.Encode()
	u.User = nil
	return u.String()
}

type feedMsg struct {
	Type    string          `json:"type"`
	Element string          `json:"element"`
	Event   string          `json:"event"`
	Msg     string          `json:"msg"`
	ID      string          `json:"id"`
	Result  string          `json:"result"`
	Error   string          `json:"error"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	Data    json.RawMessage `json:"data"`
}

type tailPrinter struct {
	w     io.Writer
	color bool
	raw   bool
	only  map[string]bool
}

const (
	ansiDim, ansiRed, ansiGreen, ansiYellow, ansiCyan, ansiBold, ansiReset = "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[36m", "\033[1m", "\033[0m"
)

func (p *tailPrinter) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

func (p *tailPrinter) note(format string, args ...any) {
	fmt.Fprintf(p.w, "%s %s\n", p.paint(ansiDim, time.Now().Format("15:04:05.000")), p.paint(ansiYellow, "-- "+fmt.Sprintf(format, args...)))
}

func (p *tailPrinter) print(m *feedMsg, line string) {
	if len(p.only) > 0 && m.Element != "" && !p.only[m.Element] {
		return
	}
	if p.raw {
		fmt.Fprintln(p.w, line)
		return
	}
	ts := p.paint(ansiDim, time.Now().Format("15:04:05.000"))
	switch m.Type {
	case "initial_info":
		var items []map[string]any
		_ = json.Unmarshal(m.Data, &items)
		fmt.Fprintf(p.w, "%s %s %-14s %d now (seq %d)\n", ts, p.paint(ansiBold, "snapshot"), m.Element, len(items), m.Seq)
		for _, it := range items {
			fmt.Fprintf(p.w, "%s          %-14s %s\n", ts, "", summarize(m.Element, it))
		}
	case "info_event":
		var it map[string]any
		_ = json.Unmarshal(m.Data, &it)
		ev := fmt.Sprintf("%-7s", m.Event)
		switch m.Event {
		case "added":
			ev = p.paint(ansiGreen, ev)
		case "removed":
			ev = p.paint(ansiRed, ev)
		default:
			ev = p.paint(ansiCyan, ev)
		}
		fmt.Fprintf(p.w, "%s #%-6d %-14s %s %s\n", ts, m.Seq, m.Element, ev, summarize(m.Element, it))
	case "system_msg":
		fmt.Fprintf(p.w, "%s %s %s\n", ts, p.paint(ansiYellow, "system"), m.Msg)
	case "response":
		r := m.Result
		if m.Error != "" {
			r += ": " + m.Error
		}
		fmt.Fprintf(p.w, "%s response id=%s %s\n", ts, m.ID, r)
	default:
		fmt.Fprintf(p.w, "%s %s\n", ts, line)
	}
}

// summarize picks the fields a person wants to see for each element kind.
func summarize(element string, d map[string]any) string {
	s := func(k string) string {
		v, ok := d[k]
		if !ok || v == nil {
			return ""
		}
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return fmt.Sprintf("%g", x)
		case bool:
			return fmt.Sprintf("%t", x)
		case map[string]any:
			if n, ok := x["name"].(string); ok {
				return n
			}
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+v)
		}
	}
	switch element {
	case "channel":
		add("", s("state"))
		add("", strings.TrimSpace(s("calling_number")+" → "+s("called_number")))
		add("user=", s("user_id"))
		add("", s("direction"))
		add("uuid=", s("uuid"))
	case "queued_channel":
		add("queue=", s("group_id"))
		add("pos=", s("position"))
		add("from=", s("peer_number"))
	case "parked_channel":
		add("slot=", s("slot"))
		add("from=", s("peer_number"))
	case "group":
		add("", s("id"))
		add("waiting=", s("waiting"))
		add("answered=", s("answered"))
		add("abandoned=", s("abandoned"))
		add("sl%=", s("service_level_pct"))
	case "group_member":
		add("", s("interface"))
		add("queue=", s("group_id"))
		add("login=", s("login_status"))
		add("paused=", s("paused"))
		add("reason=", s("pause_reason"))
	case "terminal":
		add("", s("id"))
		add("registered=", s("registered"))
		add("state=", s("device_state"))
		add("user=", s("assoc_user_id"))
	case "user":
		add("", s("name"))
		add("presence=", s("presence"))
	case "pbx":
		add("", s("name"))
		add("status=", s("status"))
		add("error=", s("last_error"))
	}
	if len(parts) == 0 {
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(k+"=", s(k))
		}
	}
	return strings.Join(parts, "  ")
}

func splitSet(s string) map[string]bool {
	if s == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && os.Getenv("NO_COLOR") == ""
}
