// Package connlimit caps the connections a server holds open (MAX_CONNECTIONS), so that idle
// keep-alive connections by the thousand cannot take the process's memory and file descriptors.
// At the cap it makes room by closing the connection that has been idle longest; only when none
// is idle does Accept wait, leaving newcomers in the kernel's backlog.
package connlimit

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// retryInterval is how often a full Accept looks again for an idle connection to close; a slot
// freed by a close meanwhile is taken at once.
var retryInterval = 20 * time.Millisecond

// Listener is a net.Listener holding at most max connections open. Its ConnState must be the
// http.Server's ConnState, which tells it which connections are idle.
type Listener struct {
	net.Listener
	slots chan struct{} // one per open connection
	done  chan struct{}
	once  sync.Once

	mu sync.Mutex
	// idle are the connections waiting for a request, the one idle longest oldest.
	idle *simplelru.LRU[*conn, struct{}]
}

// New wraps ln to hold at most max connections.
func New(ln net.Listener, max int) *Listener {
	idle, err := simplelru.NewLRU[*conn, struct{}](max, nil) // never full: max connections at most
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Listener{
		Listener: ln,
		slots:    make(chan struct{}, max),
		done:     make(chan struct{}),
		idle:     idle,
	}
}

// Accept accepts the next connection and gives it a slot, closing the connection idle longest
// to free one if need be; when none is idle it waits for a slot (one accepted connection waits
// at most, the others stay in the kernel's backlog).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return l.track(c), nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		default:
		}
		if l.closeLongestIdle() {
			continue
		}
		t := time.NewTimer(retryInterval)
		select {
		case l.slots <- struct{}{}:
			t.Stop()
			return l.track(c), nil
		case <-t.C:
		case <-l.done:
			t.Stop()
		}
	}
}

// track wraps c, which holds a slot, so that closing it frees the slot.
func (l *Listener) track(c net.Conn) *conn {
	cc := &conn{Conn: c}
	cc.release = sync.OnceFunc(func() { l.forget(cc); <-l.slots })
	return cc
}

// Close closes the listener; connections already accepted stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Open is how many connections are open.
func (l *Listener) Open() int { return len(l.slots) }

// ConnState is the http.Server hook that keeps track of idle connections.
func (l *Listener) ConnState(c net.Conn, state http.ConnState) {
	cc, ok := c.(*conn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle.Add(cc, struct{}{})
	} else {
		l.idle.Remove(cc)
	}
}

func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idle.Remove(c)
}

// closeLongestIdle closes the connection idle longest and reports whether there was one. Its
// slot is free once the close is done.
func (l *Listener) closeLongestIdle() bool {
	l.mu.Lock()
	oldest, _, ok := l.idle.RemoveOldest()
	l.mu.Unlock()
	if !ok {
		return false
	}
	_ = oldest.Close()
	return true
}

// conn gives its slot back when closed, however often Close is called.
type conn struct {
	net.Conn
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
