package connlimit

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs an HTTP server on a Listener holding at most max connections; its handler answers
// at once, or waits for release on /slow.
func serve(t *testing.T, max int, release <-chan struct{}) (*Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, max)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				<-release
			}
			_, _ = w.Write([]byte("ok"))
		}),
		ConnState: l.ConnState,
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, ln.Addr().String()
}

// get sends one keep-alive request on c and returns the status line, or an error text.
func get(c net.Conn, path string) string {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		return err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return resp.Status
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// At the cap a newcomer is served, and the connection idle longest is closed to make room.
func TestListenerClosesTheLongestIdleAtTheCap(t *testing.T) {
	l, addr := serve(t, 2, nil)
	first, second := dial(t, addr), dial(t, addr)
	for i, c := range []net.Conn{first, second} {
		if got := get(c, "/"); got != "200 OK" {
			t.Fatalf("GET / = %q", got)
		}
		// The server marks a connection idle after the client has read its answer: wait, so
		// that first is idle before second (under load the two could swap).
		waitFor(t, "the connection to go idle", func() bool { return idleCount(l) == i+1 })
	}
	third := dial(t, addr)
	if got := get(third, "/"); got != "200 OK" {
		t.Fatalf("GET / on a third connection = %q, want 200 OK", got)
	}
	if got := get(first, "/"); got == "200 OK" {
		t.Errorf("the connection idle longest still answers; want it closed")
	}
	if got := get(second, "/"); got != "200 OK" {
		t.Errorf("GET / on the second connection = %q, want 200 OK", got)
	}
	if n := l.Open(); n > 2 {
		t.Errorf("%d connections open, want at most 2", n)
	}
}

// fillOne serves at a cap of one connection: busy holds the slot with a /slow request, whose
// answer comes on answered once release is closed, and a second connection asks for / and
// waits for a slot, its answer on got.
func fillOne(t *testing.T, release <-chan struct{}) (busy net.Conn, answered, got <-chan string) {
	t.Helper()
	l, addr := serve(t, 1, release)
	busy = dial(t, addr)
	slow := make(chan string, 1)
	go func() { slow <- get(busy, "/slow") }()
	waitFor(t, "the slow request to start", func() bool { return l.Open() == 1 })

	waiting := dial(t, addr)
	fast := make(chan string, 1)
	go func() { fast <- get(waiting, "/") }()
	return busy, slow, fast
}

// When every connection is busy with a request, a newcomer waits until one is done.
func TestListenerWaitsWhenNoneIsIdle(t *testing.T) {
	release := make(chan struct{})
	busy, answered, got := fillOne(t, release)
	select {
	case s := <-got:
		t.Fatalf("a connection past the cap was served while the other was busy: %q", s)
	case <-time.After(100 * time.Millisecond): // nothing must happen within this time
	}
	close(release)
	if s := <-answered; s != "200 OK" {
		t.Fatalf("the slow request = %q", s)
	}
	// The busy connection is now idle: it is closed to make room for the waiting one.
	if s := <-got; s != "200 OK" {
		t.Fatalf("the waiting connection = %q, want 200 OK", s)
	}
	if s := get(busy, "/"); !strings.Contains(s, "EOF") && !strings.Contains(s, "reset") {
		t.Errorf("GET on the connection made room for = %q, want it closed", s)
	}
}

// A slot freed by a close goes to the waiting Accept at once, not at its next look for an idle
// connection (an hour away here).
func TestListenerTakesAFreedSlotAtOnce(t *testing.T) {
	defer func(d time.Duration) { retryInterval = d }(retryInterval)
	retryInterval = time.Hour
	release := make(chan struct{})
	busy, answered, got := fillOne(t, release)
	close(release)
	if s := <-answered; s != "200 OK" {
		t.Fatalf("the slow request = %q", s)
	}
	busy.Close() // the server closes its side and frees the slot
	select {
	case s := <-got:
		if s != "200 OK" {
			t.Fatalf("the waiting connection = %q, want 200 OK", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting connection was not served within 5 s of a slot freeing")
	}
}

func idleCount(l *Listener) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle.Len()
}
