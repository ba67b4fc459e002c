package pbxsim

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hookflash/hookflash/pbxconn/ami"
)

// Snoop starts a snoop channel on channel id (ARI POST
// /channels/{id}/snoop) and puts it into Stasis application app: the way a
// supervisor spies on (spy=in/out/both) or whispers to (whisper=…) any
// call, in Stasis or not. It returns the snoop channel's ARI object. No
// recording has a snoop: the events (ChannelCreated, StasisStart; AMI
// Newchannel) are the engine's, shaped like their recorded kinds. The
// snoop channel is ended with Hangup like any other.
func (p *PBX) Snoop(id, app, spy, whisper string) (json.RawMessage, error) {
	if app == "" {
		return nil, fmt.Errorf("%w: app is required", ErrBadRequest)
	}
	for _, v := range []string{spy, whisper} {
		switch v {
		case "", "none", "in", "out", "both":
		default:
			return nil, fmt.Errorf("%w: spy/whisper must be none, in, out or both", ErrBadRequest)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exists(id) {
		return nil, ErrNoChannel
	}
	now := p.now()
	uid := strconv.FormatInt(now.Unix(), 10) + "." + strconv.FormatUint(p.uidCounter, 10)
	p.uidCounter++
	name := fmt.Sprintf("Snoop/%s-%08x", id, p.chanCounter)
	p.chanCounter++
	type party struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	}
	obj, err := json.Marshal(struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		State       string `json:"state"`
		ProtocolID  string `json:"protocol_id"`
		Caller      party  `json:"caller"`
		Connected   party  `json:"connected"`
		AccountCode string `json:"accountcode"`
		Dialplan    struct {
			Context  string `json:"context"`
			Exten    string `json:"exten"`
			Priority int    `json:"priority"`
			AppName  string `json:"app_name"`
			AppData  string `json:"app_data"`
		} `json:"dialplan"`
		Creationtime string `json:"creationtime"`
		Language     string `json:"language"`
	}{ID: uid, Name: name, State: "Up", Creationtime: now.UTC().Format(isoLayout), Language: "en"})
	if err != nil {
		return nil, err
	}
	p.emitAMI("Newchannel", "call,all", []ami.Field{
		{Key: "Channel", Value: name}, {Key: "ChannelState", Value: "6"}, {Key: "ChannelStateDesc", Value: "Up"},
		{Key: "CallerIDNum", Value: "<unknown>"}, {Key: "CallerIDName", Value: "<unknown>"},
		{Key: "ConnectedLineNum", Value: "<unknown>"}, {Key: "ConnectedLineName", Value: "<unknown>"},
		{Key: "Language", Value: "en"}, {Key: "AccountCode", Value: ""}, {Key: "Context", Value: "default"},
		{Key: "Exten", Value: "s"}, {Key: "Priority", Value: "1"}, {Key: "Uniqueid", Value: uid}, {Key: "Linkedid", Value: uid}}...)
	p.emitARI("ChannelCreated", `"channel":`+string(obj))
	p.emitARI("StasisStart", `"args":[],"channel":`+string(obj))
	return obj, nil
}
