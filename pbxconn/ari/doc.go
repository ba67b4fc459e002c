// Package ari is a client for the Asterisk REST Interface: typed models and
// events generated from Asterisk's Swagger definitions (DecodeEvent), the
// REST resources (Client.Channels, Bridges, Endpoints, DeviceStates,
// Applications, Asterisk) and the events WebSocket (Client.Events).
//
// It is a leaf package: it imports nothing of Hookflash's. A Client holds no
// global state, reads no environment, and logs through the injected
// *slog.Logger (discarding by default).
//
// # Generated code
//
// go generate (./internal/gen) turns the Swagger copy in
// internal/gen/apidocs into models_gen.go, events_gen.go and one fast
// decoder per type (fastdecode_*_gen.go). DecodeEvent tries the fast decoder
// first and falls back to encoding/json for anything outside the plain
// subset it handles, so results are always those of encoding/json; the fuzz
// target checks that on every input.
//
// # Events stream
//
// The events stream reads its socket promptly no matter what the consumer
// does (Asterisk drops a reader that falls ~100 ms behind): decoded events
// are queued up to a bound, and a consumer that falls further behind ends the
// stream with ErrSlowConsumer rather than stalling the socket or losing
// events silently. Each EventStream has one goroutine, the reader, stopped
// and waited for by Close; pings run from a timer. EventStream.mu guards the
// queue and is never held across I/O.
package ari
