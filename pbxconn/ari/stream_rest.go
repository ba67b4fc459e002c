package ari

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
)

// Do sends one REST request over the events socket (ARI's REST over
// WebSocket: a RESTRequest message, answered by a RESTResponse with the same
// request_id; Asterisk 22.4+) and waits for the answer. It spares a PBX
// connection its separate HTTP connection. uri is relative to the ARI root
// and may carry a query, e.g. "channels/1.1?reason=busy". body, if non-nil,
// is sent as JSON; a 2xx response body is decoded into out (if non-nil and
// the body is not empty); a non-2xx response is *Error like the REST calls.
//
// The matching RESTResponse is returned to Do only, never by Next; other
// RESTResponse messages are queued as usual. Do is safe for concurrent use.
// It returns the stream's end reason if the stream ends first, and ctx's
// error if ctx is done first; a response arriving after that has no one
// waiting for it and is discarded.
func (s *EventStream) Do(ctx context.Context, method, uri string, body, out any) error {
	op := "ws " + method + " " + strings.SplitN(uri, "?", 2)[0]
	req := RESTRequest{Type: "RESTRequest", Method: method, URI: strings.TrimPrefix(uri, "/")}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ari %s: encode body: %w", op, err)
		}
		ct, mb := "application/json", string(b)
		req.ContentType, req.MessageBody = &ct, &mb
	}
	reply := make(chan *RESTResponse, 1)
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.lastReq++
	id := "hookflash-" + strconv.FormatUint(s.lastReq, 10)
	if s.pending == nil {
		s.pending = map[string]chan *RESTResponse{}
	}
	s.pending[id] = reply
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()
	req.TransactionID, req.RequestID = id, id
	msg, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("ari %s: %w", op, err)
	}
	if err := s.write(ctx, msg); err != nil {
		return fmt.Errorf("ari %s: %w", op, err)
	}
	select {
	case resp := <-reply:
		return decodeRESTResponse(op, resp, out)
	case <-s.ended:
		// The response may have been routed just before the end.
		select {
		case resp := <-reply:
			return decodeRESTResponse(op, resp, out)
		default:
		}
		return s.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends one text message; writes are serialised and bounded by ctx's
// deadline or PongTimeout, whichever is sooner. A failed write ends the
// stream (the socket is then unusable).
func (s *EventStream) write(ctx context.Context, msg []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	deadline := time.Now().Add(s.pongTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		s.fail(fmt.Errorf("ari events: write: %w", err))
		_ = s.conn.Close()
		return err
	}
	return nil
}

// route hands a RESTResponse to the Do waiting for it, reporting whether
// one was.
func (s *EventStream) route(resp *RESTResponse) bool {
	s.mu.Lock()
	ch, ok := s.pending[resp.RequestID]
	if ok {
		delete(s.pending, resp.RequestID)
	}
	s.mu.Unlock()
	if ok {
		ch <- resp // capacity 1, one send per request id
	}
	return ok
}

func decodeRESTResponse(op string, resp *RESTResponse, out any) error {
	var body []byte
	if resp.MessageBody != nil {
		body = []byte(*resp.MessageBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, Status: resp.StatusCode}
		var m struct {
			Message *string `json:"message"`
		}
		if json.Unmarshal(body, &m) == nil && m.Message != nil {
			e.Message = *m.Message
		} else {
			e.Message = strings.TrimSpace(resp.ReasonPhrase)
		}
		return e
	}
	if out == nil || len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if fastDecodeInto(out, body) {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("ari %s: decode response: %w", op, err)
	}
	return nil
}
