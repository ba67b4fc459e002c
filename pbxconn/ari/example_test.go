package ari_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hookflash/hookflash/pbxconn/ari"
)

// A connector's life with one PBX: snapshot over REST, then follow events
// until the stream ends, then reconnect and resync.
func Example() {
	ctx := context.Background()
	c, err := ari.New(ari.Config{
		URL:         "http://127.0.0.1:8088/ari",
		Username:    "hookflash",
		Password:    "secret",
		Application: "cti",
		Log:         slog.Default(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Subscribe before the snapshot so nothing between the two is missed.
	stream, err := c.Events(ctx)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer stream.Close()
	channels, err := c.Channels().List(ctx)
	if err != nil {
		fmt.Println("snapshot:", err)
		return
	}
	fmt.Println(len(channels), "channels")
	for {
		ev, err := stream.Next(ctx)
		if errors.Is(err, ari.ErrSlowConsumer) {
			// The stream ended because we fell behind: reconnect and resync.
			return
		}
		if err != nil {
			return
		}
		switch e := ev.(type) {
		case *ari.ChannelStateChange:
			fmt.Println(e.Channel.ID, e.Channel.State)
		case *ari.ChannelDestroyed:
			fmt.Println(e.Channel.ID, "gone:", e.CauseTxt)
		case *ari.UnknownEvent:
			// A newer Asterisk's event, or a malformed frame (e.Err != nil).
		}
	}
}

func ExampleChannels_Hangup() {
	c, _ := ari.New(ari.Config{URL: "http://127.0.0.1:8088/ari", Username: "u", Password: "p"})
	err := c.Channels().Hangup(context.Background(), "1795442854.0", ari.HangupBusy)
	var ae *ari.Error
	switch {
	case errors.Is(err, ari.ErrNotFound):
		// Already gone.
	case errors.As(err, &ae):
		fmt.Println(ae.Status, ae.Message)
	}
}
