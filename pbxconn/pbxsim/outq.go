package pbxsim

import "sync"

// outQueue is a connection's bounded send queue. push never blocks: like
// Asterisk, which drops a reader that falls behind, a queue over its byte
// limit is marked overflowed and its connection is closed by the writer.
type outQueue struct {
	mu       sync.Mutex // guards the fields below
	frames   [][]byte
	size     int
	limit    int
	closed   bool
	overflow bool

	wake chan struct{} // capacity 1; signalled on push and close
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// push appends b; it reports false if the queue is closed or overflowed.
func (q *outQueue) push(b []byte) bool {
	q.mu.Lock()
	if q.closed || q.overflow {
		q.mu.Unlock()
		return false
	}
	if q.size+len(b) > q.limit {
		q.overflow = true
		q.mu.Unlock()
		q.signal()
		return false
	}
	q.frames = append(q.frames, b)
	q.size += len(b)
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *outQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close makes take return done once the queue is drained.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// take returns everything queued; done is true when the queue is closed and
// empty or overflowed.
func (q *outQueue) take() (frames [][]byte, done, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.overflow {
		return nil, true, true
	}
	frames = q.frames
	q.frames = nil
	q.size = 0
	return frames, q.closed && len(frames) == 0, false
}
