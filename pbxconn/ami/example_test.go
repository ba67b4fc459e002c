package ami_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// A connector's use of the client: log in, take a snapshot with DoList, then
// consume events until the session ends and report why.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ami.Dial(ctx, ami.Config{
		Addr:     "127.0.0.1:5038",
		Username: "cti",
		Secret:   "ctipass",
		UseMD5:   true,
		Events:   true,
		Filters:  []string{"!Event: VarSet", "!Event: Newexten"},
	})
	if err != nil {
		log.Print(err) // errors.Is(err, ami.ErrAuth) for bad credentials
		return
	}
	defer c.Close()

	queues, err := c.DoList(ctx, ami.Message{Fields: []ami.Field{{Key: "Action", Value: "QueueStatus"}}})
	if err != nil {
		log.Print(err)
		return
	}
	for _, item := range queues.Items {
		fmt.Println(item.Event(), item.Get("Queue"))
	}

	_, err = c.Do(ctx, ami.Message{Fields: []ami.Field{
		{Key: "Action", Value: "QueuePause"}, {Key: "Interface", Value: "Local/1001@agents/n"},
		{Key: "Paused", Value: "true"}, {Key: "Reason", Value: "lunch"},
	}})
	var amiErr *ami.Error
	if errors.As(err, &amiErr) {
		log.Printf("PBX refused %s: %s", amiErr.Action, amiErr.Message)
	}

	for ev := range c.Events() { // closed when the session ends
		fmt.Println(ev.Event())
	}
	if errors.Is(c.Err(), ami.ErrSlowConsumer) {
		log.Print("fell behind: reconnect and resync")
	}
}
