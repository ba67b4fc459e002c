package ari

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// restOverWS answers RESTRequest messages like Asterisk: GET asterisk/info
// with the recorded info, anything under channels/missing with 404, POST
// echo with the request body; "hold" is never answered; "drop" closes the
// socket. Requests are answered in batches of batch, in reverse order, after
// an event and an unsolicited RESTResponse.
func restOverWS(t *testing.T, info string, batch int) func(*websocket.Conn) {
	return func(conn *websocket.Conn) {
		var pending []RESTRequest
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var req RESTRequest
			if err := json.Unmarshal(data, &req); err != nil || req.Type != "RESTRequest" {
				t.Errorf("server got %s (%v)", data, err)
				return
			}
			if req.URI == "drop" {
				return
			}
			if pending = append(pending, req); len(pending) == batch {
				answer(conn, pending, info)
				pending = nil
			}
		}
	}
}

func answer(conn *websocket.Conn, batch []RESTRequest, info string) {
	ev := `{"type":"StasisEnd","application":"cti","timestamp":"2026-11-23T14:07:34.258+0000","channel":{}}`
	_ = conn.WriteMessage(websocket.TextMessage, []byte(ev))
	unsolicited := `{"type":"RESTResponse","transaction_id":"t","request_id":"someone-else","status_code":200,"reason_phrase":"OK","uri":"x","application":"cti","timestamp":"2026-11-23T14:07:34.258+0000"}`
	_ = conn.WriteMessage(websocket.TextMessage, []byte(unsolicited))
	for i := len(batch) - 1; i >= 0; i-- {
		req := batch[i]
		resp := map[string]any{"type": "RESTResponse", "transaction_id": req.TransactionID, "request_id": req.RequestID,
			"application": "cti", "timestamp": "2026-11-23T14:07:34.258+0000", "uri": strings.SplitN(req.URI, "?", 2)[0]}
		switch {
		case req.URI == "hold":
			continue
		case req.Method == "GET" && req.URI == "asterisk/info":
			resp["status_code"], resp["reason_phrase"], resp["content_type"], resp["message_body"] = 200, "OK", "application/json", info
		case strings.HasPrefix(req.URI, "channels/missing"):
			resp["status_code"], resp["reason_phrase"], resp["content_type"], resp["message_body"] = 404, "Not Found", "application/json", `{"message":"Channel not found"}`
		case req.Method == "POST" && strings.HasPrefix(req.URI, "echo"):
			if req.ContentType == nil || *req.ContentType != "application/json" || req.MessageBody == nil {
				resp["status_code"], resp["reason_phrase"] = 400, "Bad Request"
				break
			}
			resp["status_code"], resp["reason_phrase"], resp["content_type"], resp["message_body"] = 200, "OK", "application/json", *req.MessageBody
		default:
			resp["status_code"], resp["reason_phrase"] = 204, "No Content"
		}
		b, _ := json.Marshal(resp)
		_ = conn.WriteMessage(websocket.TextMessage, b)
	}
}

func TestEventStreamDo(t *testing.T) {
	info := fixtureFile(t, "rest-idle-asterisk-info.json")
	srv := newWSServer(t, false, restOverWS(t, info, 12))
	c := newTestClient(t, srv.URL, nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	call := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
		}()
	}
	call(func() error {
		var in AsteriskInfo
		if err := s.Do(ctx, "GET", "asterisk/info", nil, &in); err != nil {
			return err
		}
		if in.System == nil || in.System.Version != "22.10.1" {
			return fmt.Errorf("info %+v", in.System)
		}
		return nil
	})
	call(func() error {
		err := s.Do(ctx, "DELETE", "/channels/missing?reason=busy", nil, nil)
		var ae *Error
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.Message != "Channel not found" || ae.Op != "ws DELETE /channels/missing" {
			return fmt.Errorf("missing channel: %#v", err)
		}
		return nil
	})
	for i := range 8 {
		call(func() error {
			var out map[string]int
			if err := s.Do(ctx, "POST", "echo", map[string]int{"n": i}, &out); err != nil {
				return err
			}
			if out["n"] != i {
				return fmt.Errorf("echo %d got %v: responses crossed", i, out)
			}
			return nil
		})
	}
	call(func() error { return s.Do(ctx, "PUT", "deviceStates/Stasis:x?deviceState=BUSY", nil, nil) })
	call(func() error {
		hctx, hcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer hcancel()
		if err := s.Do(hctx, "GET", "hold", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("unanswered request: %v", err)
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The event and the unsolicited response are queued for Next; the
	// answered responses are not.
	want := []string{"StasisEnd", "RESTResponse"}
	for _, w := range want {
		ev, err := nextWithin(t, s, 2*time.Second)
		if err != nil || ev.GetType() != w {
			t.Fatalf("Next = %v, %v; want %s", ev, err, w)
		}
	}
	if ev, err := nextWithin(t, s, 200*time.Millisecond); err == nil {
		t.Fatalf("unexpected queued %s", ev.GetType())
	}
}

func TestEventStreamDoStreamEnds(t *testing.T) {
	srv := newWSServer(t, false, restOverWS(t, "{}", 1))
	c := newTestClient(t, srv.URL, nil)
	s, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Do(ctx, "GET", "drop", nil, nil); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do on a dropped socket: %v, want the stream's end", err)
	}
	if err := s.Do(ctx, "GET", "asterisk/info", nil, nil); err == nil {
		t.Fatal("Do after the end succeeded")
	}
	s.Close()
	if err := s.Do(ctx, "GET", "asterisk/info", nil, nil); err == nil {
		t.Fatal("Do after Close succeeded")
	}
}
