package ari_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ari"
	"github.com/hookflash/hookflash/pbxconn/pbxsim"
)

// TestAgainstSimulator drives the client against the simulated Asterisk
// (pbxconn/pbxsim) over real loopback sockets: REST snapshot, originate,
// control errors, hangup with a reason, and the events socket following the
// call to its end with every event typed.
func TestAgainstSimulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pbxsim.Start(ctx, pbxsim.Config{Speed: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	user, pass := p.ARICredentials()
	c, err := ari.New(ari.Config{URL: p.ARIURL(), Username: user, Password: pass, Application: "cti"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	s, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	info, err := c.Asterisk().Info(ctx)
	if err != nil || info.System == nil || info.System.Version == "" {
		t.Fatalf("info: %+v, %v", info, err)
	}
	if eps, err := c.Endpoints().List(ctx); err != nil || len(eps) == 0 {
		t.Fatalf("endpoints: %d, %v", len(eps), err)
	}
	ch, err := c.Channels().Originate(ctx, ari.OriginateRequest{Endpoint: "Local/9001@customers", Extension: "1001", Context: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Channels().Get(ctx, ch.ID); err != nil || got.Name != ch.Name {
		t.Fatalf("get %s: %+v, %v", ch.ID, got, err)
	}
	if err := c.Channels().Hold(ctx, ch.ID); !errors.Is(err, ari.ErrConflict) {
		t.Fatalf("hold outside Stasis: %v, want ErrConflict", err)
	}
	if err := c.Channels().Hangup(ctx, ch.ID, ari.HangupBusy); err != nil {
		t.Fatal(err)
	}
	if err := c.Channels().Hangup(ctx, ch.ID+"x", ""); !errors.Is(err, ari.ErrNotFound) {
		t.Fatalf("hangup of a missing channel: %v, want ErrNotFound", err)
	}

	sawCreated := false
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("events ended before the call did: %v", err)
		}
		switch e := ev.(type) {
		case *ari.UnknownEvent:
			t.Fatalf("untyped event %q (err %v): %s", e.Type, e.Err, e.Raw)
		case *ari.ChannelCreated:
			sawCreated = sawCreated || e.Channel.ID == ch.ID
		case *ari.ChannelDestroyed:
			if e.Channel.ID == ch.ID {
				if !sawCreated {
					t.Fatal("ChannelDestroyed before ChannelCreated")
				}
				if st := s.Stats(); st.Malformed != 0 {
					t.Fatalf("stats %+v", st)
				}
				return
			}
		}
		if ev.GetTimestamp().IsZero() || ev.GetApplication() != "cti" {
			t.Fatalf("%s: base fields %v %q", ev.GetType(), ev.GetTimestamp(), ev.GetApplication())
		}
	}
}
