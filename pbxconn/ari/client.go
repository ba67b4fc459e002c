package ari

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// URL is the ARI base URL, e.g. "http://127.0.0.1:8088/ari" (required;
	// scheme http or https). The events socket is URL + "/events" with the
	// scheme switched to ws or wss.
	URL string
	// Username and Password are sent as HTTP Basic auth on every request and
	// on the WebSocket handshake. They are never logged.
	Username string
	Password string
	// Application is the Stasis application the events socket registers
	// (required for Events).
	Application string

	// TLS, if set, is cloned and used for https/wss (e.g. client
	// certificates, ServerName). CAPEM, if set, holds PEM certificates that
	// become the only trusted roots (a private PBX CA); it overrides
	// TLS.RootCAs.
	TLS   *tls.Config
	CAPEM []byte
	// HTTPClient, if set, is used as is for REST calls (TLS and CAPEM then
	// apply only to the events socket). By default the Client builds one
	// http.Client with a keep-alive Transport tuned for one PBX.
	HTTPClient *http.Client

	// Log receives connection-level logs; defaults to a discard logger.
	Log *slog.Logger

	// RequestTimeout bounds each REST call on top of its ctx (default 10s;
	// negative disables).
	RequestTimeout time.Duration
	// MaxResponseBytes bounds a REST response body (default 32 MiB).
	MaxResponseBytes int64

	// DialTimeout bounds the events socket handshake (default 10s).
	DialTimeout time.Duration
	// MaxMessageBytes bounds one events-socket message (default 4 MiB); a
	// larger one ends the stream with an error.
	MaxMessageBytes int64
	// EventBufferEvents and EventBufferBytes bound the decoded events
	// waiting for the consumer (defaults 8192 events, 16 MiB of raw JSON).
	// Exceeding either ends the stream with ErrSlowConsumer.
	EventBufferEvents int
	EventBufferBytes  int
	// PingInterval is how often the events socket is pinged (default 10s).
	// PongTimeout is how long it may stay silent (no message, no pong)
	// before the stream ends with ErrDeadPeer (default 3 × PingInterval).
	PingInterval time.Duration
	PongTimeout  time.Duration
	// OwnResourcesOnly, if true, omits subscribeAll=true from the events
	// socket URL so only the application's own resources are reported.
	OwnResourcesOnly bool
}

// Client talks to one Asterisk's ARI. It is safe for concurrent use; it
// holds one http.Client whose connections are reused across calls.
type Client struct {
	// All fields are set by New and read-only after.
	cfg     Config
	base    *url.URL // REST base, without a trailing slash
	wsURL   string   // events socket URL with query
	http    *http.Client
	tls     *tls.Config // for https/wss; nil for plain http
	log     *slog.Logger
	authHdr string
}

// New validates cfg, fills its defaults and returns a Client. It does no
// I/O.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("ari: Config.URL is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ari: Config.URL: %w", err)
	}
	var wsScheme string
	switch u.Scheme {
	case "http":
		wsScheme = "ws"
	case "https":
		wsScheme = "wss"
	default:
		return nil, fmt.Errorf("ari: Config.URL %q: scheme must be http or https", redactURL(u))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ari: Config.URL %q: no host", redactURL(u))
	}
	if u.User != nil {
		return nil, errors.New("ari: Config.URL must not carry credentials; use Username and Password")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""

	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 32 << 20
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 4 << 20
	}
	if cfg.EventBufferEvents <= 0 {
		cfg.EventBufferEvents = 8192
	}
	if cfg.EventBufferBytes <= 0 {
		cfg.EventBufferBytes = 16 << 20
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 10 * time.Second
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = 3 * cfg.PingInterval
	}

	c := &Client{cfg: cfg, base: u, log: cfg.Log}
	if u.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLS != nil {
			tc = cfg.TLS.Clone()
		}
		if len(cfg.CAPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, errors.New("ari: Config.CAPEM holds no PEM certificate")
			}
			tc.RootCAs = pool
		}
		c.tls = tc
	}
	if cfg.Username != "" || cfg.Password != "" {
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(cfg.Username, cfg.Password)
		c.authHdr = req.Header.Get("Authorization")
	}
	c.http = cfg.HTTPClient
	if c.http == nil {
		c.http = &http.Client{
			Transport: newTransport(c.tls),
			// ARI never redirects; a 3xx is reported as *Error, not followed
			// (possibly elsewhere) with the credentials.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	ws := *u
	ws.Scheme = wsScheme
	ws.Path += "/events"
	q := url.Values{}
	if cfg.Application != "" {
		q.Set("app", cfg.Application)
	}
	if !cfg.OwnResourcesOnly {
		q.Set("subscribeAll", "true")
	}
	ws.RawQuery = q.Encode()
	c.wsURL = ws.String()
	return c, nil
}

// newTransport returns a keep-alive transport for one PBX: a handful of
// idle connections kept warm, bounded dial and handshake times, no proxy
// from the environment.
func newTransport(tc *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// CloseIdleConnections closes the REST connections kept alive for reuse.
// The Client stays usable.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// request is one REST call.
type request struct {
	op     string     // e.g. "channels.hangup", used in errors
	method string     // HTTP method
	path   []string   // path segments below the base URL, each escaped
	query  url.Values // may be nil
	body   any        // JSON-encoded when non-nil
}

// do runs req and decodes a 2xx JSON response into out (if out is non-nil
// and the response has a body). A non-2xx response becomes *Error.
func (c *Client) do(ctx context.Context, req request, out any) error {
	if c.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	var p strings.Builder
	p.WriteString(c.base.Path)
	for _, seg := range req.path {
		if seg == "" {
			return fmt.Errorf("ari %s: empty path parameter", req.op)
		}
		p.WriteByte('/')
		p.WriteString(url.PathEscape(seg))
	}
	u := *c.base
	u.RawPath = p.String()
	u.Path, _ = url.PathUnescape(u.RawPath)
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return fmt.Errorf("ari %s: encode body: %w", req.op, err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return fmt.Errorf("ari %s: %w", req.op, err)
	}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	if c.authHdr != "" {
		hr.Header.Set("Authorization", c.authHdr)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return fmt.Errorf("ari %s: %w", req.op, scrubURLError(err))
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(req.op, resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("ari %s: read response: %w", req.op, err)
	}
	if int64(len(data)) > c.cfg.MaxResponseBytes {
		return fmt.Errorf("ari %s: response larger than %d bytes", req.op, c.cfg.MaxResponseBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("ari %s: %d response with empty body", req.op, resp.StatusCode)
	}
	if fastDecodeInto(out, data) {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ari %s: decode response: %w", req.op, err)
	}
	return nil
}

// readError turns a non-2xx response into *Error, taking ARI's
// {"message": …} when present and otherwise a bounded prefix of the body.
func readError(op string, resp *http.Response) *Error {
	e := &Error{Op: op, Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var m struct {
		Message *string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != nil {
		e.Message = *m.Message
		return e
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(data), "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	e.Message = s
	return e
}

// scrubURLError strips the URL from a *url.Error (it may carry query
// parameters such as variable values) while keeping the cause.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func redactURL(u *url.URL) string {
	v := *u
	v.User = nil
	v.RawQuery = ""
	return v.String()
}

// containers is ARI's body shape for variables: {"variables": {k: v}}.
type containers struct {
	Variables map[string]string `json:"variables"`
}

func variablesBody(vars map[string]string) any {
	if len(vars) == 0 {
		return nil
	}
	return containers{Variables: vars}
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
